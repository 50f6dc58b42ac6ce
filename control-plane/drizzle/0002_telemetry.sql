CREATE TABLE "drift_monitor_states" (
	"release_id" text NOT NULL,
	"cohort" text NOT NULL,
	"model_name" text NOT NULL,
	"last_window_start" timestamp with time zone,
	"state" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "drift_monitor_states_pk" PRIMARY KEY("release_id","cohort")
);
--> statement-breakpoint
CREATE TABLE "drift_monitors" (
	"model_name" text PRIMARY KEY NOT NULL,
	"config" jsonb NOT NULL,
	"updated_by" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "drift_window_results" (
	"release_id" text NOT NULL,
	"cohort" text NOT NULL,
	"feature_set" text NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"window_seconds" integer NOT NULL,
	"model_name" text NOT NULL,
	"verdict" text NOT NULL,
	"features" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"evaluated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "drift_window_results_pk" PRIMARY KEY("release_id","cohort","feature_set","window_start")
);
--> statement-breakpoint
CREATE TABLE "telemetry_device_windows" (
	"device_id" text NOT NULL,
	"release_id" text NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"window_seconds" integer NOT NULL,
	"cohort" text DEFAULT '' NOT NULL,
	"profile" jsonb,
	"latency" jsonb,
	"inferences" bigint DEFAULT 0 NOT NULL,
	"errors" bigint DEFAULT 0 NOT NULL,
	"windows_merged" bigint DEFAULT 0 NOT NULL,
	"execution_provider" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "telemetry_device_windows_pk" PRIMARY KEY("device_id","release_id","window_start")
);
--> statement-breakpoint
CREATE TABLE "telemetry_seqs" (
	"device_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "telemetry_seqs_pk" PRIMARY KEY("device_id","seq")
);
--> statement-breakpoint
CREATE TABLE "webhook_delivery_attempts" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "webhook_delivery_attempts_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"delivery_id" bigint NOT NULL,
	"attempt" integer NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"duration_ms" integer NOT NULL,
	"status_code" integer,
	"error" text,
	"next_attempt_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "telemetry_aggregates" ALTER COLUMN "profile" DROP DEFAULT;--> statement-breakpoint
ALTER TABLE "telemetry_aggregates" ALTER COLUMN "profile" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "drift_events" ADD COLUMN "feature_set" text DEFAULT 'all' NOT NULL;--> statement-breakpoint
ALTER TABLE "drift_events" ADD COLUMN "features" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "drift_events" ADD COLUMN "last_window_start" timestamp with time zone NOT NULL;--> statement-breakpoint
ALTER TABLE "drift_events" ADD COLUMN "updated_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "retraining_requests" ADD COLUMN "cohort" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "retraining_requests" ADD COLUMN "feature_set" text DEFAULT 'all' NOT NULL;--> statement-breakpoint
ALTER TABLE "retraining_requests" ADD COLUMN "window_start" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "retraining_requests" ADD COLUMN "window_end" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "retraining_requests" ADD COLUMN "samples" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "retraining_requests" ADD COLUMN "features" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "drift_monitors" ADD CONSTRAINT "drift_monitors_model_name_models_name_fk" FOREIGN KEY ("model_name") REFERENCES "public"."models"("name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_delivery_attempts" ADD CONSTRAINT "webhook_delivery_attempts_delivery_id_webhook_deliveries_id_fk" FOREIGN KEY ("delivery_id") REFERENCES "public"."webhook_deliveries"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "drift_monitor_states_model_idx" ON "drift_monitor_states" USING btree ("model_name");--> statement-breakpoint
CREATE INDEX "drift_window_results_model_idx" ON "drift_window_results" USING btree ("model_name","window_start");--> statement-breakpoint
CREATE INDEX "drift_window_results_window_idx" ON "drift_window_results" USING btree ("window_start");--> statement-breakpoint
CREATE INDEX "telemetry_device_windows_release_idx" ON "telemetry_device_windows" USING btree ("release_id","window_start");--> statement-breakpoint
CREATE INDEX "telemetry_device_windows_window_idx" ON "telemetry_device_windows" USING btree ("window_start");--> statement-breakpoint
CREATE INDEX "telemetry_seqs_window_idx" ON "telemetry_seqs" USING btree ("window_start");--> statement-breakpoint
CREATE INDEX "webhook_delivery_attempts_delivery_idx" ON "webhook_delivery_attempts" USING btree ("delivery_id","attempt");--> statement-breakpoint
CREATE UNIQUE INDEX "drift_events_one_firing_uq" ON "drift_events" USING btree ("model_name","release_id","cohort","feature_set") WHERE "drift_events"."status" = 'firing';--> statement-breakpoint
CREATE INDEX "retraining_requests_created_idx" ON "retraining_requests" USING btree ("created_at");