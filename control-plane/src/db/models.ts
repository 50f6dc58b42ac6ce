/**
 * The model registry: named models and their immutable versions (`models/{name}/versions`).
 */
import { EdgefleetError } from '@edgefleet/protocol';
import { and, asc, eq } from 'drizzle-orm';
import type { Database } from './database.js';
import { mapSqlErrors, SQLSTATE } from './errors.js';
import {
  models,
  modelVersions,
  type Model,
  type ModelVersion,
  type NewModel,
  type NewModelVersion,
} from './schema.js';

/** Create a model. An existing name is EF_CONFLICT. */
export async function createModel(
  db: Database,
  model: Omit<NewModel, 'lastReleaseCounter'>,
): Promise<Model> {
  const [row] = await mapSqlErrors(() => db.insert(models).values(model).returning(), {
    [SQLSTATE.uniqueViolation]: {
      code: 'EF_CONFLICT',
      message: `Model ${model.name} already exists.`,
      details: { model: model.name },
    },
  });
  return row!;
}

export async function getModel(db: Database, name: string): Promise<Model | undefined> {
  const [row] = await db.select().from(models).where(eq(models.name, name));
  return row;
}

/** All models, by name. */
export async function listModels(db: Database): Promise<Model[]> {
  return db.select().from(models).orderBy(asc(models.name));
}

/**
 * Add a version to a model, creating the model on its first push. Versions are immutable: pushing an
 * existing version again is EF_CONFLICT (and the database refuses UPDATEs of the row). An artifact or
 * reference profile that was not recorded first is EF_NOT_FOUND.
 */
export async function createModelVersion(
  db: Database,
  version: NewModelVersion,
): Promise<ModelVersion> {
  const where = { model: version.modelName, version: version.version };
  return mapSqlErrors(
    () =>
      db.transaction(async (tx) => {
        await tx.insert(models).values({ name: version.modelName }).onConflictDoNothing();
        const [row] = await tx.insert(modelVersions).values(version).returning();
        return row!;
      }),
    {
      [SQLSTATE.uniqueViolation]: {
        code: 'EF_CONFLICT',
        message: `Model ${version.modelName} already has a version ${version.version}; versions are immutable.`,
        details: where,
      },
      [SQLSTATE.foreignKeyViolation]: {
        code: 'EF_NOT_FOUND',
        message: `The artifact or reference profile of ${version.modelName}@${version.version} is not recorded.`,
        details: where,
      },
    },
  );
}

export async function getModelVersion(
  db: Database,
  modelName: string,
  version: string,
): Promise<ModelVersion | undefined> {
  const [row] = await db
    .select()
    .from(modelVersions)
    .where(and(eq(modelVersions.modelName, modelName), eq(modelVersions.version, version)));
  return row;
}

/** A model's versions, oldest first. EF_NOT_FOUND if the model does not exist. */
export async function listModelVersions(db: Database, modelName: string): Promise<ModelVersion[]> {
  const rows = await db
    .select()
    .from(modelVersions)
    .where(eq(modelVersions.modelName, modelName))
    .orderBy(asc(modelVersions.createdAt), asc(modelVersions.version));
  if (rows.length === 0 && (await getModel(db, modelName)) === undefined) {
    throw new EdgefleetError('EF_NOT_FOUND', `No model ${modelName}.`, {
      details: { model: modelName },
    });
  }
  return rows;
}
