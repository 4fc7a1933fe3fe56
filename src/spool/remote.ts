// The spool of a running gateway through its admin port (`smtp-gateway spool --admin …`): the same
// four operations as opening the spool directly, for when the command runs where the spool is not
// (another machine, or a pod without the Redis credentials). Sends ADMIN_TOKEN itself.
import type { QuarantinedEntry, SpoolBackend, SpoolEntry } from './backend.ts';
import { adminCall, type AdminReply, type AdminTarget } from '../lib/admin-client.ts';

export type SpoolOps = Pick<SpoolBackend, 'list' | 'get' | 'retry' | 'drop' | 'quarantined' | 'close'>;

export function remoteSpool(t: AdminTarget): SpoolOps {
  return {
    list: async (filter) => ok(await adminCall(t, filter?.dead ? '/spool?dead=1' : '/spool')) as SpoolEntry[],
    get: async (id) => {
      const r = await adminCall(t, `/spool/${encodeURIComponent(id)}`);
      return r.status === 404 ? null : (ok(r) as SpoolEntry);
    },
    retry: async (target) => {
      const path = 'id' in target ? `/spool/${encodeURIComponent(target.id)}/retry` : '/spool/retry-dead';
      const r = await adminCall(t, path, 'POST');
      return r.status === 404 ? [] : (ok(r) as { retried: string[] }).retried;
    },
    drop: async (id) => {
      const r = await adminCall(t, `/spool/${encodeURIComponent(id)}`, 'DELETE');
      return r.status === 404 ? false : (ok(r), true);
    },
    quarantined: async () => ok(await adminCall(t, '/spool/quarantined')) as QuarantinedEntry[],
    close: async () => {},
  };
}

function ok(r: AdminReply): unknown {
  if (r.status === 200) return r.body;
  const said =
    typeof r.body === 'object' && r.body !== null && 'error' in r.body ? String(r.body.error) : String(r.body);
  throw new Error(`the admin port answered ${r.status}: ${said}`);
}
