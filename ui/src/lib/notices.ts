/** App-wide notifications (budget alerts so far): newest first, a few at most, dismissable. */

export interface Notice {
  /** Same key, same notice: a repeat replaces the old one instead of stacking. */
  key: string;
  tone: "info" | "warn";
  title: string;
  message: string;
}

export const MAX_NOTICES = 4;

export function addNotice(list: Notice[], n: Notice): Notice[] {
  return [n, ...list.filter((o) => o.key !== n.key)].slice(0, MAX_NOTICES);
}

export function dismissNotice(list: Notice[], key: string): Notice[] {
  return list.filter((n) => n.key !== key);
}
