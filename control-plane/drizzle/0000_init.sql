CREATE TABLE "artifacts" (
	"sha256" text PRIMARY KEY NOT NULL,
	"length" bigint NOT NULL,
	"media_type" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "artifacts_sha256_hex" CHECK ("artifacts"."sha256" ~ '^[0-9a-f]{64}$'),
	CONSTRAINT "artifacts_length_nonneg" CHECK ("artifacts"."length" >= 0)
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "audit_log_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"target" text,
	"outcome" text NOT NULL,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	CONSTRAINT "audit_log_outcome_check" CHECK ("audit_log"."outcome" in ('success', 'failure', 'denied'))
);
--> statement-breakpoint
CREATE TABLE "device_deployments" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "device_deployments_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"rollout_id" text NOT NULL,
	"wave_index" integer NOT NULL,
	"device_id" text NOT NULL,
	"release_id" text NOT NULL,
	"state" text DEFAULT 'assigned' NOT NULL,
	"reason" text,
	"directive_counter" bigint NOT NULL,
	"assigned_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "device_deployments_state_check" CHECK ("device_deployments"."state" in ('assigned', 'downloading', 'verifying', 'staged', 'activating', 'soaking', 'succeeded', 'failed', 'rolled_back', 'timed_out'))
);
--> statement-breakpoint
CREATE TABLE "device_directive_counters" (
	"device_id" text PRIMARY KEY NOT NULL,
	"last_counter" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "device_health" (
	"device_id" text PRIMARY KEY NOT NULL,
	"release_id" text,
	"window_start" timestamp with time zone NOT NULL,
	"window_seconds" integer NOT NULL,
	"inferences" bigint DEFAULT 0 NOT NULL,
	"errors" bigint DEFAULT 0 NOT NULL,
	"latency_p50_ms" double precision,
	"latency_p95_ms" double precision,
	"execution_provider" text,
	"spool_drops" bigint DEFAULT 0 NOT NULL,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "device_tokens" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "device_tokens_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"device_id" text NOT NULL,
	"token_hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "devices" (
	"id" text PRIMARY KEY NOT NULL,
	"hardware_class" text NOT NULL,
	"os" text NOT NULL,
	"arch" text NOT NULL,
	"ort_version" text NOT NULL,
	"execution_providers" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"enrolled_at" timestamp with time zone DEFAULT now() NOT NULL,
	"decommissioned_at" timestamp with time zone,
	"last_seen_at" timestamp with time zone,
	"current_release_id" text,
	"online" boolean DEFAULT false NOT NULL,
	CONSTRAINT "devices_status_check" CHECK ("devices"."status" in ('active', 'decommissioned')),
	CONSTRAINT "devices_id_format" CHECK ("devices"."id" ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$')
);
--> statement-breakpoint
CREATE TABLE "drift_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "drift_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"release_id" text NOT NULL,
	"model_name" text NOT NULL,
	"cohort" text DEFAULT '' NOT NULL,
	"feature" text NOT NULL,
	"metric" text NOT NULL,
	"value" double precision NOT NULL,
	"threshold" double precision NOT NULL,
	"status" text DEFAULT 'firing' NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"window_end" timestamp with time zone NOT NULL,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"detected_at" timestamp with time zone DEFAULT now() NOT NULL,
	"resolved_at" timestamp with time zone,
	CONSTRAINT "drift_events_status_check" CHECK ("drift_events"."status" in ('firing', 'resolved'))
);
--> statement-breakpoint
CREATE TABLE "enrollment_tokens" (
	"id" text PRIMARY KEY NOT NULL,
	"token_hash" text NOT NULL,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"max_uses" integer NOT NULL,
	"uses" integer DEFAULT 0 NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "enrollment_tokens_hash_uq" UNIQUE("token_hash"),
	CONSTRAINT "enrollment_tokens_uses_check" CHECK ("enrollment_tokens"."uses" >= 0 and "enrollment_tokens"."uses" <= "enrollment_tokens"."max_uses"),
	CONSTRAINT "enrollment_tokens_max_uses_check" CHECK ("enrollment_tokens"."max_uses" >= 1)
);
--> statement-breakpoint
CREATE TABLE "meta" (
	"key" text PRIMARY KEY NOT NULL,
	"value" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "model_versions" (
	"model_name" text NOT NULL,
	"version" text NOT NULL,
	"artifact_sha256" text NOT NULL,
	"inspection" jsonb NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"feature_spec" jsonb,
	"reference_profile_sha256" text,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "model_versions_pk" PRIMARY KEY("model_name","version")
);
--> statement-breakpoint
CREATE TABLE "models" (
	"name" text PRIMARY KEY NOT NULL,
	"description" text,
	"last_release_counter" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "operator_tokens" (
	"id" text PRIMARY KEY NOT NULL,
	"token_hash" text NOT NULL,
	"name" text NOT NULL,
	"role" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"last_used_at" timestamp with time zone,
	CONSTRAINT "operator_tokens_hash_uq" UNIQUE("token_hash"),
	CONSTRAINT "operator_tokens_role_check" CHECK ("operator_tokens"."role" in ('viewer', 'deployer', 'admin'))
);
--> statement-breakpoint
CREATE TABLE "releases" (
	"release_id" text PRIMARY KEY NOT NULL,
	"model_name" text NOT NULL,
	"model_version" text NOT NULL,
	"release_counter" bigint NOT NULL,
	"envelope" text NOT NULL,
	"sha256" text NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	CONSTRAINT "releases_counter_positive" CHECK ("releases"."release_counter" > 0),
	CONSTRAINT "releases_sha256_hex" CHECK ("releases"."sha256" ~ '^[0-9a-f]{64}$')
);
--> statement-breakpoint
CREATE TABLE "retraining_requests" (
	"id" text PRIMARY KEY NOT NULL,
	"idempotency_key" text NOT NULL,
	"model_name" text NOT NULL,
	"release_id" text,
	"drift_event_id" bigint,
	"reason" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "retraining_requests_idempotency_uq" UNIQUE("idempotency_key"),
	CONSTRAINT "retraining_requests_status_check" CHECK ("retraining_requests"."status" in ('pending', 'delivered', 'failed'))
);
--> statement-breakpoint
CREATE TABLE "rollouts" (
	"id" text PRIMARY KEY NOT NULL,
	"release_id" text NOT NULL,
	"baseline_release_id" text,
	"selector_text" text DEFAULT '' NOT NULL,
	"selector" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"state" text DEFAULT 'draft' NOT NULL,
	"gates" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"abort_criteria" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"max_devices_per_minute" integer,
	"requires_approval" boolean DEFAULT false NOT NULL,
	"approved_by" text,
	"approved_at" timestamp with time zone,
	"reason" text,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "rollouts_state_check" CHECK ("rollouts"."state" in ('draft', 'awaiting_approval', 'running', 'paused', 'completed', 'aborted', 'cancelled'))
);
--> statement-breakpoint
CREATE TABLE "signing_keys" (
	"keyid" text PRIMARY KEY NOT NULL,
	"role" text NOT NULL,
	"public_key" jsonb NOT NULL,
	"private_key_ref" text,
	"private_key_encrypted" boolean DEFAULT false NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"retired_at" timestamp with time zone,
	CONSTRAINT "signing_keys_role_check" CHECK ("signing_keys"."role" in ('root', 'release', 'deploy'))
);
--> statement-breakpoint
CREATE TABLE "telemetry_aggregates" (
	"release_id" text NOT NULL,
	"cohort" text DEFAULT '' NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"window_seconds" integer NOT NULL,
	"profile" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"latency" jsonb,
	"inferences" bigint DEFAULT 0 NOT NULL,
	"errors" bigint DEFAULT 0 NOT NULL,
	"windows_merged" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "telemetry_aggregates_pk" PRIMARY KEY("release_id","cohort","window_start")
);
--> statement-breakpoint
CREATE TABLE "trust_roots" (
	"version" integer PRIMARY KEY NOT NULL,
	"envelope" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "waves" (
	"rollout_id" text NOT NULL,
	"wave_index" integer NOT NULL,
	"target_count" integer,
	"target_percent" double precision,
	"state" text DEFAULT 'pending' NOT NULL,
	"soak_seconds" integer DEFAULT 0 NOT NULL,
	"timeout_seconds" integer NOT NULL,
	"verdict" jsonb,
	"started_at" timestamp with time zone,
	"soak_started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "waves_pk" PRIMARY KEY("rollout_id","wave_index"),
	CONSTRAINT "waves_state_check" CHECK ("waves"."state" in ('pending', 'running', 'soaking', 'passed', 'failed')),
	CONSTRAINT "waves_target_check" CHECK (("waves"."target_count" is null) <> ("waves"."target_percent" is null))
);
--> statement-breakpoint
CREATE TABLE "webhook_deliveries" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "webhook_deliveries_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"webhook_id" text NOT NULL,
	"event" text NOT NULL,
	"payload" jsonb NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_error" text,
	"response_status" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"delivered_at" timestamp with time zone,
	CONSTRAINT "webhook_deliveries_status_check" CHECK ("webhook_deliveries"."status" in ('pending', 'succeeded', 'failed', 'dead'))
);
--> statement-breakpoint
CREATE TABLE "webhooks" (
	"id" text PRIMARY KEY NOT NULL,
	"url" text NOT NULL,
	"secret" text NOT NULL,
	"events" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"created_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "device_deployments" ADD CONSTRAINT "device_deployments_device_id_devices_id_fk" FOREIGN KEY ("device_id") REFERENCES "public"."devices"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "device_deployments" ADD CONSTRAINT "device_deployments_release_id_releases_release_id_fk" FOREIGN KEY ("release_id") REFERENCES "public"."releases"("release_id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "device_deployments" ADD CONSTRAINT "device_deployments_wave_fk" FOREIGN KEY ("rollout_id","wave_index") REFERENCES "public"."waves"("rollout_id","wave_index") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "device_directive_counters" ADD CONSTRAINT "device_directive_counters_device_id_devices_id_fk" FOREIGN KEY ("device_id") REFERENCES "public"."devices"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "device_health" ADD CONSTRAINT "device_health_device_id_devices_id_fk" FOREIGN KEY ("device_id") REFERENCES "public"."devices"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "device_tokens" ADD CONSTRAINT "device_tokens_device_id_devices_id_fk" FOREIGN KEY ("device_id") REFERENCES "public"."devices"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_versions" ADD CONSTRAINT "model_versions_model_name_models_name_fk" FOREIGN KEY ("model_name") REFERENCES "public"."models"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_versions" ADD CONSTRAINT "model_versions_artifact_sha256_artifacts_sha256_fk" FOREIGN KEY ("artifact_sha256") REFERENCES "public"."artifacts"("sha256") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "model_versions" ADD CONSTRAINT "model_versions_reference_profile_sha256_artifacts_sha256_fk" FOREIGN KEY ("reference_profile_sha256") REFERENCES "public"."artifacts"("sha256") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "releases" ADD CONSTRAINT "releases_model_version_fk" FOREIGN KEY ("model_name","model_version") REFERENCES "public"."model_versions"("model_name","version") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "retraining_requests" ADD CONSTRAINT "retraining_requests_drift_event_id_drift_events_id_fk" FOREIGN KEY ("drift_event_id") REFERENCES "public"."drift_events"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_release_id_releases_release_id_fk" FOREIGN KEY ("release_id") REFERENCES "public"."releases"("release_id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_baseline_release_id_releases_release_id_fk" FOREIGN KEY ("baseline_release_id") REFERENCES "public"."releases"("release_id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "waves" ADD CONSTRAINT "waves_rollout_id_rollouts_id_fk" FOREIGN KEY ("rollout_id") REFERENCES "public"."rollouts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_webhook_id_webhooks_id_fk" FOREIGN KEY ("webhook_id") REFERENCES "public"."webhooks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "audit_log_target_idx" ON "audit_log" USING btree ("target","id");--> statement-breakpoint
CREATE INDEX "audit_log_actor_idx" ON "audit_log" USING btree ("actor","id");--> statement-breakpoint
CREATE UNIQUE INDEX "device_deployments_rollout_device_uq" ON "device_deployments" USING btree ("rollout_id","device_id");--> statement-breakpoint
CREATE INDEX "device_deployments_wave_state_idx" ON "device_deployments" USING btree ("rollout_id","wave_index","state");--> statement-breakpoint
CREATE INDEX "device_deployments_device_idx" ON "device_deployments" USING btree ("device_id");--> statement-breakpoint
CREATE INDEX "device_health_release_idx" ON "device_health" USING btree ("release_id");--> statement-breakpoint
CREATE INDEX "device_tokens_device_idx" ON "device_tokens" USING btree ("device_id") WHERE "device_tokens"."revoked_at" is null;--> statement-breakpoint
CREATE INDEX "devices_labels_gin" ON "devices" USING gin ("labels");--> statement-breakpoint
CREATE INDEX "devices_status_idx" ON "devices" USING btree ("status");--> statement-breakpoint
CREATE INDEX "devices_hardware_class_idx" ON "devices" USING btree ("hardware_class");--> statement-breakpoint
CREATE INDEX "drift_events_release_idx" ON "drift_events" USING btree ("release_id","detected_at");--> statement-breakpoint
CREATE INDEX "drift_events_model_idx" ON "drift_events" USING btree ("model_name","detected_at");--> statement-breakpoint
CREATE INDEX "model_versions_artifact_idx" ON "model_versions" USING btree ("artifact_sha256");--> statement-breakpoint
CREATE UNIQUE INDEX "releases_model_counter_uq" ON "releases" USING btree ("model_name","release_counter");--> statement-breakpoint
CREATE INDEX "releases_created_idx" ON "releases" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "retraining_requests_model_idx" ON "retraining_requests" USING btree ("model_name","created_at");--> statement-breakpoint
CREATE INDEX "rollouts_state_idx" ON "rollouts" USING btree ("state");--> statement-breakpoint
CREATE INDEX "rollouts_release_idx" ON "rollouts" USING btree ("release_id");--> statement-breakpoint
CREATE INDEX "signing_keys_role_idx" ON "signing_keys" USING btree ("role","active");--> statement-breakpoint
CREATE INDEX "telemetry_aggregates_window_idx" ON "telemetry_aggregates" USING btree ("window_start");--> statement-breakpoint
CREATE INDEX "webhook_deliveries_due_idx" ON "webhook_deliveries" USING btree ("next_attempt_at") WHERE "webhook_deliveries"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "webhook_deliveries_webhook_idx" ON "webhook_deliveries" USING btree ("webhook_id","created_at");