-- Custom SQL migration: rows that record signed or content-addressed facts never change.
-- A model version, an artifact and a release are immutable once stored (a correction is a new version
-- or a new release with a higher counter), so the database refuses UPDATEs of them whatever the caller.
CREATE FUNCTION "ef_refuse_update"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'rows of % are immutable', TG_TABLE_NAME
    USING ERRCODE = 'object_not_in_prerequisite_state';
END
$$;
--> statement-breakpoint
CREATE TRIGGER "model_versions_immutable" BEFORE UPDATE ON "model_versions"
  FOR EACH ROW EXECUTE FUNCTION "ef_refuse_update"();
--> statement-breakpoint
CREATE TRIGGER "artifacts_immutable" BEFORE UPDATE ON "artifacts"
  FOR EACH ROW EXECUTE FUNCTION "ef_refuse_update"();
--> statement-breakpoint
CREATE TRIGGER "releases_immutable" BEFORE UPDATE ON "releases"
  FOR EACH ROW EXECUTE FUNCTION "ef_refuse_update"();
