CREATE TABLE "gate_evaluations" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "gate_evaluations_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"rollout_id" text NOT NULL,
	"wave_index" integer,
	"kind" text NOT NULL,
	"passed" boolean NOT NULL,
	"checks" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"window_start" timestamp with time zone,
	"window_end" timestamp with time zone,
	"evaluated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "gate_evaluations_kind_check" CHECK ("gate_evaluations"."kind" in ('wave_gate', 'abort_criteria', 'promote'))
);
--> statement-breakpoint
ALTER TABLE "device_deployments" DROP CONSTRAINT "device_deployments_state_check";--> statement-breakpoint
ALTER TABLE "rollouts" DROP CONSTRAINT "rollouts_state_check";--> statement-breakpoint
ALTER TABLE "device_deployments" ALTER COLUMN "state" SET DEFAULT 'pending';--> statement-breakpoint
ALTER TABLE "device_deployments" ADD COLUMN "previous_release_id" text;--> statement-breakpoint
ALTER TABLE "device_deployments" ADD COLUMN "published_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "device_deployments" ADD COLUMN "attempts" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "device_deployments" ADD COLUMN "retry_requested_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "rollouts" ADD COLUMN "model_name" text NOT NULL;--> statement-breakpoint
ALTER TABLE "rollouts" ADD COLUMN "kind" text DEFAULT 'deploy' NOT NULL;--> statement-breakpoint
ALTER TABLE "rollouts" ADD COLUMN "spec" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "rollouts" ADD COLUMN "fleet_size" integer;--> statement-breakpoint
ALTER TABLE "rollouts" ADD COLUMN "superseded_by" text;--> statement-breakpoint
ALTER TABLE "rollouts" ADD COLUMN "rollback_of" text;--> statement-breakpoint
ALTER TABLE "rollouts" ADD COLUMN "rollback_target_release_id" text;--> statement-breakpoint
ALTER TABLE "rollouts" ADD COLUMN "rollback_status" text;--> statement-breakpoint
ALTER TABLE "rollouts" ADD COLUMN "rollback_summary" jsonb;--> statement-breakpoint
ALTER TABLE "waves" ADD COLUMN "name" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "waves" ADD COLUMN "cumulative_target" integer;--> statement-breakpoint
ALTER TABLE "waves" ADD COLUMN "approved_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "waves" ADD COLUMN "approved_by" text;--> statement-breakpoint
ALTER TABLE "gate_evaluations" ADD CONSTRAINT "gate_evaluations_rollout_id_rollouts_id_fk" FOREIGN KEY ("rollout_id") REFERENCES "public"."rollouts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "gate_evaluations_rollout_idx" ON "gate_evaluations" USING btree ("rollout_id","id");--> statement-breakpoint
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_model_name_models_name_fk" FOREIGN KEY ("model_name") REFERENCES "public"."models"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_rollback_of_rollouts_id_fk" FOREIGN KEY ("rollback_of") REFERENCES "public"."rollouts"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_rollback_target_release_id_releases_release_id_fk" FOREIGN KEY ("rollback_target_release_id") REFERENCES "public"."releases"("release_id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "device_deployments_device_counter_uq" ON "device_deployments" USING btree ("device_id","directive_counter");--> statement-breakpoint
CREATE UNIQUE INDEX "device_deployments_one_open_uq" ON "device_deployments" USING btree ("device_id") WHERE "device_deployments"."state" in ('pending', 'assigned', 'downloading', 'verifying', 'staged', 'activating', 'soaking');--> statement-breakpoint
CREATE INDEX "device_deployments_unpublished_idx" ON "device_deployments" USING btree ("id") WHERE "device_deployments"."state" = 'pending' and "device_deployments"."published_at" is null;--> statement-breakpoint
CREATE INDEX "rollouts_model_state_idx" ON "rollouts" USING btree ("model_name","state");--> statement-breakpoint
CREATE UNIQUE INDEX "rollouts_rollback_uq" ON "rollouts" USING btree ("rollback_of","rollback_target_release_id");--> statement-breakpoint
ALTER TABLE "device_deployments" ADD CONSTRAINT "device_deployments_state_check" CHECK ("device_deployments"."state" in ('pending', 'assigned', 'downloading', 'verifying', 'staged', 'activating', 'soaking', 'succeeded', 'failed', 'rolled_back', 'timed_out'));--> statement-breakpoint
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_kind_check" CHECK ("rollouts"."kind" in ('deploy', 'rollback'));--> statement-breakpoint
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_rollback_status_check" CHECK ("rollouts"."rollback_status" is null or "rollouts"."rollback_status" in ('pending', 'started'));--> statement-breakpoint
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_rollback_of_check" CHECK (("rollouts"."kind" = 'rollback') = ("rollouts"."rollback_of" is not null and "rollouts"."rollback_target_release_id" is not null));--> statement-breakpoint
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_state_check" CHECK ("rollouts"."state" in ('draft', 'awaiting_approval', 'running', 'paused', 'completed', 'aborted', 'cancelled', 'superseded'));