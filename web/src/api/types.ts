// The console's names for the API's types: each is the generated schema
// (src/api/schema.gen.ts, from web/openapi.json), as the client gives it
// (`Wire`: absent nullable fields null, enums kept open) for answers, and as
// it is for the bodies the console sends.

import type { Wire } from './contract';
import { outcomeValues, roleValues, scopeValues, type components } from './schema.gen';

type S = components['schemas'];

// Status and identity
export type VersionInfo = Wire<S['BuildInfo']>;
export type Readiness = Wire<S['ReadinessReport']>;
export type ComponentReadiness = Readiness['components'][string];
export type User = Wire<S['UserView']>;
export type Whoami = Wire<S['Whoami']>;
export type SsoMethod = Wire<S['SsoMethod']>;
export type AuthMethods = Wire<S['AuthMethods']>;
export type Token = Wire<S['TokenView']>;
export type TokenCreated = Wire<S['TokenCreated']>;
export type MappingRules = Wire<S['MappingRules']>;
export type Claims = Wire<S['Claims']>;
export type MappingPreview = Wire<S['MappingPreview']>;

export type SetupRequest = S['SetupRequest'];
export type NewLocalUserRequest = S['NewLocalUser'];
export type UserUpdate = S['UserUpdate'];
export type TokenRequest = S['TokenRequest'];
export type PreviewRequest = S['PreviewRequest'];

/** The global roles, lowest first. */
export const ROLES = roleValues;
export type KnownRole = S['Role'];
export const SCOPES = scopeValues;
export type Scope = S['Scope'];

// Audit log
export type AuditEvent = Wire<S['AuditEvent']>;
export type AuditActor = Wire<S['EventActor']>;
export type AuditOrigin = Wire<S['Origin']>;
export type AuditResource = Wire<S['EventResource']>;
export type AuditChange = Wire<S['Change']>;
export type AuditPage = Wire<S['Page']>;
export type AuditVerification = Wire<S['Verification']>;
export const AUDIT_OUTCOMES = outcomeValues;
export type AuditOutcome = S['Outcome'];

// Spaces, dev sessions and dev mode
export type SpaceMember = Wire<S['SpaceMember']>;
export type Wakefulness = Wire<S['Wakefulness']>;
export type SpaceCondition = Wire<S['Condition']>;
export type QuotaUsage = Wire<S['QuotaUsage']>;
export type SpaceStatus = Wire<S['SpaceStatus']>;
export type SpaceView = Wire<S['SpaceView']>;
export type SpaceObject = Wire<S['SpaceObject']>;
export type NewSpaceRequest = S['NewSpace'];
export type SpaceUpdate = S['SpaceUpdate'];
export type SessionView = Wire<S['SessionView']>;
export type SessionCreated = Wire<S['SessionCreated']>;
export type NewSessionRequest = S['NewSession'];
export type DevView = Wire<S['DevView']>;
export type ContainerView = Wire<S['ContainerView']>;
export type WorkloadView = Wire<S['WorkloadView']>;
export type EndpointView = Wire<S['EndpointView']>;

// Catalog and applications
export type RepositoryView = Wire<S['RepositoryView']>;
export type NewRepositoryRequest = S['NewRepository'];
export type ChartVersionView = Wire<S['ChartVersionView']>;
export type ChartView = Wire<S['ChartView']>;
export type ItemSpec = S['ItemSpec'];
export type FieldView = Wire<S['FieldView']>;
export type ItemView = Wire<S['ItemView']>;
export type OperationView = Wire<S['OperationView']>;
export type HelmReleaseView = Wire<S['HelmReleaseView']>;
export type AppView = Wire<S['AppView']>;
export type InstallRequest = S['InstallRequest'];
export type UpgradeRequest = S['UpgradeRequest'];

/**
 * The filters of the audit list and export, as the console keeps them (in
 * its address). Every field is optional; empty strings are never sent (the
 * daemon would match them literally).
 */
export interface AuditFilters {
  /** Unix nanoseconds, inclusive, as a decimal string (too large for a JS number). */
  since?: string;
  /** Unix nanoseconds, inclusive, as a decimal string. */
  until?: string;
  /** The actor's name. */
  actor?: string;
  /** A prefix: `token.` matches `token.create`. */
  action?: string;
  resource_kind?: string;
  /** Needs `resource_kind`; the resource's name or id. */
  resource?: string;
  space?: string;
  outcome?: AuditOutcome;
}

export interface AuditPageQuery {
  /** 1..1000; the daemon's default is 100. */
  limit?: number;
  /** Only events with a smaller seq: the previous page's `next`. */
  before?: number;
}

/** The order filters appear in a query string (the console's address, the API calls, the export link). */
export const AUDIT_FILTER_KEYS = ['since', 'until', 'actor', 'action', 'resource_kind', 'resource', 'space', 'outcome'] as const;
export type AuditFilterKey = (typeof AUDIT_FILTER_KEYS)[number];
