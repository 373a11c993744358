// The endpoints section of a space's page: its Services served at their own
// address through Berth, with who may reach each. Set with `berth endpoint set`.

import type { EndpointView } from '../api';
import { CardError } from '../ui/Banner';
import { ListStateRows } from '../ui/TableParts';

/** Who an access level lets in, in words. */
export function accessLabel(access: EndpointView['access']): string {
  switch (access) {
    case 'private':
      return "The space's members";
    case 'team':
      return 'Anyone signed in to Berth';
    case 'public':
      return 'Anyone with the address';
    default:
      return access;
  }
}

/** "Endpoints": each Service served at its own address, and who may reach it. */
export function Endpoints({ endpoints, error }: { endpoints: EndpointView[] | null; error: string | null }) {
  return (
    <section className="card card-flush" aria-labelledby="space-endpoints-title">
      <div className="card-head">
        <div className="card-head-text">
          <h2 className="card-title" id="space-endpoints-title">
            Endpoints
          </h2>
          {endpoints && endpoints.length > 0 && (
            <span className="muted card-head-note" data-testid="space-endpoints-count">
              {endpoints.length} {endpoints.length === 1 ? 'endpoint' : 'endpoints'}
            </span>
          )}
        </div>
      </div>
      <CardError error={error} testId="space-endpoints-error" />
      <div className="table-scroll">
        <table className="table table-data table-spaces" data-testid="space-endpoints">
          <thead>
            <tr>
              <th scope="col">Service</th>
              <th scope="col">Port</th>
              <th scope="col">Access</th>
              <th scope="col">Address</th>
            </tr>
          </thead>
          <tbody>
            {endpoints?.map((e) => (
              <tr key={e.service} data-testid={`endpoint-${e.service}`}>
                <td className="mono">{e.service}</td>
                <td className="mono">{e.port ?? <span className="muted">first</span>}</td>
                <td data-testid={`endpoint-${e.service}-access`} title={accessLabel(e.access)}>
                  <span className={`badge badge-small${e.access === 'public' ? ' badge-warn' : ''}`}>{e.access}</span>
                </td>
                <td className="col-wrap">
                  <a className="mono" href={e.url} target="_blank" rel="noreferrer" data-testid={`endpoint-${e.service}-url`}>
                    {e.url}
                  </a>
                  <span className="muted"> · set by {e.set_by}</span>
                </td>
              </tr>
            ))}
            <ListStateRows
              items={endpoints}
              failed={error !== null}
              columns={4}
              empty="No endpoints. `berth endpoint set SERVICE` serves a Service of this space at its own address."
              emptyTestId="space-endpoints-empty"
              unknown="Endpoints unknown."
            />
          </tbody>
        </table>
      </div>
    </section>
  );
}
