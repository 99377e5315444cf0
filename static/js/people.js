// A person as every page draws them: initials on a colour, the same as the
// server draws them (people/cards.py, `{% avatar %}`). No uploads, no markup
// from names. The initials are an attribute the stylesheet draws: decoration,
// they stay out of the text of the names and messages beside them (what is
// read, copied, searched or announced).

const FIRST_LETTER = /[\p{L}\p{N}]\p{M}*/u;

// Upper case only where it stays one letter ("ß" would become "SS").
function upper(letter) {
  const up = letter.toUpperCase();
  return up.length === letter.length ? up : letter;
}

// One or two letters: of the first and last words, or the one word's first letter.
export function initials(name) {
  const letters = name
    .split(/\s+/u)
    .map((word) => word.match(FIRST_LETTER)?.[0])
    .filter(Boolean);
  if (letters.length === 0) return "?";
  const chosen = letters.length === 1 ? letters : [letters[0], letters[letters.length - 1]];
  return chosen.map((letter) => upper(letter.normalize("NFC"))).join("");
}

// <span class="avatar avatar-cN" aria-hidden="true" data-initials="AB"></span>.
export function avatar(name, colour) {
  const node = document.createElement("span");
  node.className = `avatar avatar-c${Number.isInteger(colour) ? colour : 0}`;
  node.setAttribute("aria-hidden", "true");
  node.dataset.initials = initials(name);
  return node;
}

// A person's page, where their display name, username and a "Message" button are.
export function personUrl(username) {
  return `/people/${encodeURIComponent(username)}/`;
}
