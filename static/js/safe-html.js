// Server-rendered, nh3-sanitised markup is rebuilt node by node from an
// allow-list; nothing is ever assigned to innerHTML, so even a sanitiser slip
// could not run script here.

const SAFE_SCHEMES = new Set(["http:", "https:", "mailto:"]);
const DROP = new Set(["SCRIPT", "STYLE", "IFRAME", "OBJECT", "EMBED", "TEMPLATE", "NOSCRIPT"]);

export const CHAT_TAGS = {
  P: [], BR: [], EM: [], STRONG: [], CODE: [], PRE: [], A: ["href", "title", "class"],
};

// The classes a tag may keep (a mention's link): any other class is dropped.
export const CLASSES = {
  A: ["mention"],
};

export const ARTICLE_TAGS = {
  ...CHAT_TAGS,
  H1: [], H2: [], H3: [], H4: [], H5: [], H6: [], UL: [], OL: [], LI: [], BLOCKQUOTE: [],
  HR: [], S: [], DEL: [], TABLE: [], THEAD: [], TBODY: [], TR: [], TH: [], TD: [],
  IMG: ["src", "alt", "title"],
};

function safeUrl(value) {
  try {
    return SAFE_SCHEMES.has(new URL(value, window.location.href).protocol);
  } catch {
    return false;
  }
}

function copy(from, to, allowed) {
  for (const node of from.childNodes) {
    if (node.nodeType === Node.TEXT_NODE) {
      to.append(node.data);
    } else if (node.nodeType === Node.ELEMENT_NODE && !DROP.has(node.tagName)) {
      const attributes = allowed[node.tagName];
      if (attributes === undefined) {
        copy(node, to, allowed);
        continue;
      }
      const element = document.createElement(node.tagName.toLowerCase());
      for (const name of attributes) {
        const value = node.getAttribute(name);
        if (value === null) continue;
        if ((name === "href" || name === "src") && !safeUrl(value)) continue;
        if (name === "class") {
          const kept = value.split(/\s+/).filter((c) => (CLASSES[node.tagName] || []).includes(c));
          if (kept.length) element.setAttribute("class", kept.join(" "));
          continue;
        }
        element.setAttribute(name, value);
      }
      if (node.tagName === "A") element.setAttribute("rel", "nofollow noopener noreferrer");
      copy(node, element, allowed);
      to.append(element);
    }
  }
}

// A DocumentFragment holding only allowed elements, attributes and URLs.
export function safeFragment(html, allowed = CHAT_TAGS) {
  const parsed = new DOMParser().parseFromString(html, "text/html");
  const fragment = document.createDocumentFragment();
  copy(parsed.body, fragment, allowed);
  return fragment;
}
