// The page's language and time zone for scripts. Strings come from Django's JavaScript
// catalog (/jsi18n/, a classic script loaded before the modules: window.gettext …; English
// pages, written in the source language, load none); dates
// are formatted by Intl in the page's language (<html lang>) and the viewer's zone
// (<html data-tz>). The browser's own zone is reported in a cookie, for the server to use
// when the login has not chosen one (webclient/live/locale.py).
const catalog = window;

export const lang = document.documentElement.lang || "en";
export const zone = document.documentElement.dataset.tz || undefined;

export function gettext(text) {
  return catalog.gettext ? catalog.gettext(text) : text;
}

export function ngettext(singular, plural, count) {
  if (catalog.ngettext) return catalog.ngettext(singular, plural, count);
  return count === 1 ? singular : plural;
}

// interpolate("%(name)s joined", {name: "Alice"}) or interpolate("%s of %s", [1, 2]).
export function interpolate(format, values) {
  if (Array.isArray(values)) {
    let i = 0;
    return format.replace(/%s/g, () => String(values[i++]));
  }
  return format.replace(/%\((\w+)\)s/g, (_, key) => String(values[key]));
}

// A date or time in the page's language and the viewer's zone.
export function formatDate(date, options) {
  try {
    return new Intl.DateTimeFormat(lang, { timeZone: zone, ...options }).format(date);
  } catch (_) {
    return new Intl.DateTimeFormat(lang, options).format(date);
  }
}

function reportZone() {
  let browserZone;
  try {
    browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (_) {
    return;
  }
  // IANA names ("America/Argentina/Buenos_Aires") are valid cookie values as they are.
  if (!browserZone || !/^[A-Za-z0-9_+\-\/]+$/.test(browserZone)) return;
  const cookie = "webclient_tz=" + browserZone;
  if (document.cookie.split("; ").includes(cookie)) return;
  document.cookie = cookie + "; path=/; max-age=31536000; SameSite=Lax";
}

reportZone();
