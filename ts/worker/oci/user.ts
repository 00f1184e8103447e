// Resolve an image's USER ("", "name", "uid", "name:group", "uid:gid") to numeric ids,
// additional groups and a home directory, from the image's own /etc/passwd and
// /etc/group contents (the caller reads them through the manifest and blob cache, never
// through the mount). Follows Docker's rules: a numeric user absent from passwd is
// allowed (gid 0, home /); a name absent from passwd is an error.
// Deliberately does not: read files, or consult the host's user database.
import { BadRequestError } from '../../common/errors.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

const MAX_ID = 2 ** 32 - 2;

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) continue;
    const uid = Number(f[2]), gid = Number(f[3]);
    if (!isId(uid) || !isId(gid)) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5] || '/' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#')) continue;
    const gid = Number(f[2]);
    if (!isId(gid)) continue;
    out.push({ name: f[0]!, gid, members: f[3]!.split(',').map((s) => s.trim()).filter(Boolean) });
  }
  return out;
}

/** `user` is the image's USER; passwd/group are file contents or undefined when absent. */
export function resolveUser(user: string, passwdText: string | undefined, groupText: string | undefined): ResolvedUser {
  const passwd = parsePasswd(passwdText ?? '');
  const groups = parseGroup(groupText ?? '');
  const [userPart = '', groupPart] = user.trim().split(':', 2);
  let uid = 0, gid = 0, home = '/', name: string | undefined;

  if (userPart === '') {
    const root = passwd.find((p) => p.uid === 0);
    name = root?.name ?? 'root';
    home = root?.home ?? '/root';
  } else if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
    if (!isId(uid)) throw new BadRequestError(`image user ${JSON.stringify(user)} has an out-of-range uid`);
    const p = passwd.find((e) => e.uid === uid);
    if (p) { gid = p.gid; home = p.home; name = p.name; }
  } else {
    const p = passwd.find((e) => e.name === userPart);
    if (!p) throw new BadRequestError(`image user ${JSON.stringify(userPart)} is not in the image's /etc/passwd`);
    uid = p.uid; gid = p.gid; home = p.home; name = p.name;
  }

  if (groupPart !== undefined && groupPart !== '') {
    if (/^\d+$/.test(groupPart)) {
      gid = Number(groupPart);
      if (!isId(gid)) throw new BadRequestError(`image user ${JSON.stringify(user)} has an out-of-range gid`);
    } else {
      const g = groups.find((e) => e.name === groupPart);
      if (!g) throw new BadRequestError(`image group ${JSON.stringify(groupPart)} is not in the image's /etc/group`);
      gid = g.gid;
    }
  }
  // Supplementary groups only when the group was not forced (as Docker does).
  const additionalGids = groupPart === undefined && name !== undefined
    ? [...new Set(groups.filter((g) => g.members.includes(name!) && g.gid !== gid).map((g) => g.gid))]
    : [];
  return { uid, gid, additionalGids, home };
}

function isId(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= MAX_ID;
}
