// Elsewhere console: check a ledger entry's inclusion proof in the browser, trusting only the
// log key the user pins. RFC 9162 hashing (SHA-256 via WebCrypto), the c2sp.org/tlog-proof
// bundle, the c2sp.org/tlog-checkpoint signed note and its Ed25519 signature (WebCrypto).
// The same checks as `elsewhere ledger verify` (src/elsewhere/ledger/bundle.py).
// Its words are messages of the project's catalogue: _("…{name}…") is extracted by
// `make messages`, and the page carries their translations (scripts.py) as JSON.
"use strict";

(() => {
  const KEY_STORE = "elsewhere.ledger.vkey";
  const encoder = new TextEncoder();
  let messages = {};

  // The message in the page's language (its English text when the page has none), with
  // each {name} replaced by its value.
  function _(text, values = {}) {
    const template = Object.prototype.hasOwnProperty.call(messages, text) ? messages[text] : text;
    return template.replace(/\{(\w+)\}/g, (whole, name) =>
      Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole,
    );
  }

  class Refused extends Error {}

  function b64(text, what) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
      throw new Refused(_("{what}: not standard base64", { what }));
    }
    const binary = atob(text);
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }

  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  function same(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }

  async function sha256(data) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  }

  const leafHash = (entry) => sha256(concat(Uint8Array.of(0), entry));
  const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

  function decimal(text, what) {
    if (!/^(0|[1-9][0-9]{0,15})$/.test(text)) {
      throw new Refused(
        _("{what}: {text} is not a plain decimal", { what, text: JSON.stringify(text.slice(0, 20)) }),
      );
    }
    return Number(text);
  }

  function parseBundle(text) {
    const split = text.indexOf("\n\n");
    if (split < 0) throw new Refused(_("bundle: no blank line before the checkpoint"));
    const head = text.slice(0, split).split("\n");
    if (head[0] !== "c2sp.org/tlog-proof@v1") {
      throw new Refused(_("bundle line 1: must be 'c2sp.org/tlog-proof@v1'"));
    }
    let at = 1;
    let entry = null;
    if (head[at] !== undefined && head[at].startsWith("extra ")) {
      entry = b64(head[at].slice(6), _("bundle extra line"));
      at += 1;
    }
    if (head[at] === undefined || !head[at].startsWith("index ")) {
      throw new Refused(_("bundle line {line}: expected 'index <n>'", { line: at + 1 }));
    }
    const index = decimal(head[at].slice(6), _("bundle index line"));
    const lines = head.slice(at + 1);
    if (lines.length > 64) throw new Refused(_("bundle proof: more than 64 hashes"));
    const proof = lines.map((line, n) => {
      const hash = b64(line, _("bundle proof hash {n}", { n: n + 1 }));
      if (hash.length !== 32) {
        throw new Refused(_("bundle proof hash {n}: not 32 bytes", { n: n + 1 }));
      }
      return hash;
    });
    if (entry === null) throw new Refused(_("bundle: no extra line (the entry itself)"));
    return { index, entry, proof, checkpoint: text.slice(split + 2) };
  }

  function parseCheckpoint(text) {
    const split = text.lastIndexOf("\n\n");
    if (split < 0) throw new Refused(_("checkpoint: no blank line before the signatures"));
    const body = text.slice(0, split + 1);
    const lines = body.split("\n");
    if (lines.length < 4) throw new Refused(_("checkpoint: needs origin, size and root lines"));
    const size = decimal(lines[1], _("checkpoint size line"));
    const root = b64(lines[2], _("checkpoint root line"));
    if (root.length !== 32) throw new Refused(_("checkpoint root: not 32 bytes"));
    const signatures = text
      .slice(split + 2)
      .split("\n")
      .filter((line) => line.length > 0)
      .map((line, n) => {
        const parts = line.split(" ");
        if (parts.length !== 3 || parts[0] !== "\u2014") {
          throw new Refused(
            _("checkpoint signature line {n}: expected '\u2014 name base64'", { n: n + 1 }),
          );
        }
        const raw = b64(parts[2], _("checkpoint signature line {n}", { n: n + 1 }));
        return { name: parts[1], keyId: raw.slice(0, 4), signature: raw.slice(4) };
      });
    return { body, origin: lines[0], size, root, signatures };
  }

  async function parseKey(text) {
    // name+keyid+base64: the base64 may itself hold '+', so split at the first two only.
    const parts = text.trim().match(/^([^+]+)\+([^+]*)\+(.+)$/s);
    if (!parts) throw new Refused(_("pinned key: expected name+keyid+base64(type, key)"));
    const [, name, keyHex, blob] = parts;
    if (!/^[0-9a-f]{8}$/.test(keyHex)) {
      throw new Refused(_("pinned key: key ID must be 8 lowercase hex digits"));
    }
    const material = b64(blob, _("pinned key"));
    if (material.length !== 33 || material[0] !== 1) {
      throw new Refused(_("pinned key: only Ed25519 (type 0x01) log keys"));
    }
    const digest = await sha256(concat(encoder.encode(name), Uint8Array.of(0x0a), material));
    if (hex(digest.slice(0, 4)) !== keyHex) {
      throw new Refused(_("pinned key: key ID does not match its name and key"));
    }
    return { name, keyId: digest.slice(0, 4), publicKey: material.slice(1) };
  }

  // RFC 9162 section 2.1.3.2: the root an inclusion proof leads to (numbers, not 32-bit ops).
  async function rootFromProof(index, size, leaf, proof) {
    if (!(index < size)) {
      throw new Refused(_("inclusion: index {index} is not below size {size}", { index, size }));
    }
    let fn = index;
    let sn = size - 1;
    let r = leaf;
    for (const p of proof) {
      if (sn === 0) throw new Refused(_("inclusion proof is longer than the path to the root"));
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        if (fn % 2 === 0) {
          while (fn !== 0 && fn % 2 === 0) {
            fn = Math.floor(fn / 2);
            sn = Math.floor(sn / 2);
          }
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Refused(_("inclusion proof is shorter than the path to the root"));
    return r;
  }

  // Ed25519 in WebCrypto: null when this browser has none (then the signature is NOT checked).
  async function ed25519Verify(publicKey, signature, message) {
    let key;
    try {
      key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, [
        "verify",
      ]);
    } catch (error) {
      if (error && error.name === "NotSupportedError") return null;
      throw new Refused(_("pinned key: not an Ed25519 public key ({error})", { error }));
    }
    return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  }

  async function verify(form) {
    const steps = [];
    if (!window.isSecureContext || !window.crypto || !crypto.subtle) {
      throw new Refused(
        _(
          "this page is not served over HTTPS or from loopback, so the browser offers " +
            "no WebCrypto: nothing was checked",
        ),
      );
    }
    const pinned = form.querySelector("#vkey").value;
    if (!pinned.trim()) throw new Refused(_("pin a log key first: nothing was checked"));
    const key = await parseKey(pinned);
    const bundle = parseBundle(form.querySelector("#bundle").value.replace(/\r\n/g, "\n"));
    const expectedIndex = Number(form.dataset.index);
    if (bundle.index !== expectedIndex) {
      throw new Refused(
        _("the bundle is for entry #{index}, not #{expected}", {
          index: bundle.index,
          expected: expectedIndex,
        }),
      );
    }
    const leaf = await leafHash(bundle.entry);
    steps.push(_("leaf hash of the entry in the bundle: {leaf}", { leaf: hex(leaf) }));
    const expectedLeaf = form.dataset.expectedLeaf;
    if (expectedLeaf) {
      if (hex(leaf) !== expectedLeaf) {
        throw new Refused(
          _("the entry's leaf hash is not the {expected} the link named", {
            expected: expectedLeaf,
          }),
        );
      }
      steps.push(_("it is the leaf hash the diagram's link named"));
    }
    const checkpoint = parseCheckpoint(bundle.checkpoint);
    if (checkpoint.origin !== key.name) {
      throw new Refused(
        _("checkpoint origin {origin} is not the pinned key's {name}", {
          origin: checkpoint.origin,
          name: key.name,
        }),
      );
    }
    const signed = checkpoint.signatures.find(
      (s) => s.name === key.name && same(s.keyId, key.keyId),
    );
    if (!signed) throw new Refused(_("the checkpoint carries no signature by the pinned key"));
    const good = await ed25519Verify(key.publicKey, signed.signature, encoder.encode(checkpoint.body));
    if (good === false) {
      throw new Refused(_("the checkpoint's signature does not verify with the pinned key"));
    }
    if (good === null) {
      steps.push(
        _(
          "this browser has no Ed25519 in WebCrypto: the checkpoint's signature was NOT " +
            "checked; only the proof against the checkpoint's root was",
        ),
      );
    } else {
      steps.push(
        _("checkpoint signature (Ed25519) verified with the pinned key {name}", { name: key.name }),
      );
    }
    const root = await rootFromProof(bundle.index, checkpoint.size, leaf, bundle.proof);
    if (!same(root, checkpoint.root)) {
      throw new Refused(
        _("inclusion proof for #{index} does not lead to the checkpoint's root (size {size})", {
          index: bundle.index,
          size: checkpoint.size,
        }),
      );
    }
    steps.push(
      _(
        "inclusion proof ({hashes} hashes) leads to the root of the checkpoint " +
          "of {size} entries",
        { hashes: bundle.proof.length, size: checkpoint.size },
      ),
    );
    return { steps, signatureChecked: good === true, index: bundle.index, size: checkpoint.size };
  }

  function show(outcome, cls, headline, steps) {
    outcome.replaceChildren();
    const head = document.createElement("p");
    head.className = cls;
    const strong = document.createElement("strong");
    strong.textContent = headline;
    head.append(strong);
    outcome.append(head);
    if (steps.length) {
      const list = document.createElement("ul");
      for (const step of steps) {
        const item = document.createElement("li");
        item.textContent = step;
        list.append(item);
      }
      outcome.append(list);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("verify");
    const outcome = document.getElementById("outcome");
    if (!form || !outcome) return;
    const words = document.getElementById("messages");
    if (words) messages = JSON.parse(words.textContent || "{}");
    const remembered = window.localStorage.getItem(KEY_STORE);
    if (remembered && !form.querySelector("#vkey").value) form.querySelector("#vkey").value = remembered;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      show(outcome, "", _("Checking…"), []);
      try {
        const done = await verify(form);
        window.localStorage.setItem(KEY_STORE, form.querySelector("#vkey").value.trim());
        const values = { index: done.index, size: done.size };
        const headline = done.signatureChecked
          ? _("VERIFIED: entry #{index} is in the log of {size} entries", values)
          : _(
              "PROOF VERIFIED, SIGNATURE NOT CHECKED: entry #{index} is in the log of " +
                "{size} entries",
              values,
            );
        show(outcome, "verified", headline, done.steps);
      } catch (error) {
        const reason =
          error instanceof Refused ? error.message : _("unexpected error: {error}", { error });
        show(outcome, "refused", _("REFUSED: {reason}", { reason }), []);
      }
    });
  });
})();
