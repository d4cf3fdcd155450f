// Elsewhere console: check a ledger entry's inclusion proof in the browser, trusting only the
// log key the user pins. RFC 9162 hashing (SHA-256 via WebCrypto), the c2sp.org/tlog-proof
// bundle, the c2sp.org/tlog-checkpoint signed note and its Ed25519 signature (WebCrypto).
// The same checks as `elsewhere ledger verify` (src/elsewhere/ledger/bundle.py).
"use strict";

(() => {
  const KEY_STORE = "elsewhere.ledger.vkey";
  const encoder = new TextEncoder();

  class Refused extends Error {}

  function b64(text, what) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
      throw new Refused(`${what}: not standard base64`);
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
      throw new Refused(`${what}: ${JSON.stringify(text.slice(0, 20))} is not a plain decimal`);
    }
    return Number(text);
  }

  function parseBundle(text) {
    const split = text.indexOf("\n\n");
    if (split < 0) throw new Refused("bundle: no blank line before the checkpoint");
    const head = text.slice(0, split).split("\n");
    if (head[0] !== "c2sp.org/tlog-proof@v1") {
      throw new Refused("bundle line 1: must be 'c2sp.org/tlog-proof@v1'");
    }
    let at = 1;
    let entry = null;
    if (head[at] !== undefined && head[at].startsWith("extra ")) {
      entry = b64(head[at].slice(6), "bundle extra line");
      at += 1;
    }
    if (head[at] === undefined || !head[at].startsWith("index ")) {
      throw new Refused(`bundle line ${at + 1}: expected 'index <n>'`);
    }
    const index = decimal(head[at].slice(6), "bundle index line");
    const lines = head.slice(at + 1);
    if (lines.length > 64) throw new Refused("bundle proof: more than 64 hashes");
    const proof = lines.map((line, n) => {
      const hash = b64(line, `bundle proof hash ${n + 1}`);
      if (hash.length !== 32) throw new Refused(`bundle proof hash ${n + 1}: not 32 bytes`);
      return hash;
    });
    if (entry === null) throw new Refused("bundle: no extra line (the entry itself)");
    return { index, entry, proof, checkpoint: text.slice(split + 2) };
  }

  function parseCheckpoint(text) {
    const split = text.lastIndexOf("\n\n");
    if (split < 0) throw new Refused("checkpoint: no blank line before the signatures");
    const body = text.slice(0, split + 1);
    const lines = body.split("\n");
    if (lines.length < 4) throw new Refused("checkpoint: needs origin, size and root lines");
    const size = decimal(lines[1], "checkpoint size line");
    const root = b64(lines[2], "checkpoint root line");
    if (root.length !== 32) throw new Refused("checkpoint root: not 32 bytes");
    const signatures = text
      .slice(split + 2)
      .split("\n")
      .filter((line) => line.length > 0)
      .map((line, n) => {
        const parts = line.split(" ");
        if (parts.length !== 3 || parts[0] !== "\u2014") {
          throw new Refused(`checkpoint signature line ${n + 1}: expected '\u2014 name base64'`);
        }
        const raw = b64(parts[2], `checkpoint signature line ${n + 1}`);
        return { name: parts[1], keyId: raw.slice(0, 4), signature: raw.slice(4) };
      });
    return { body, origin: lines[0], size, root, signatures };
  }

  async function parseKey(text) {
    // name+keyid+base64: the base64 may itself hold '+', so split at the first two only.
    const parts = text.trim().match(/^([^+]+)\+([^+]*)\+(.+)$/s);
    if (!parts) throw new Refused("pinned key: expected name+keyid+base64(type, key)");
    const [, name, keyHex, blob] = parts;
    if (!/^[0-9a-f]{8}$/.test(keyHex)) {
      throw new Refused("pinned key: key ID must be 8 lowercase hex digits");
    }
    const material = b64(blob, "pinned key");
    if (material.length !== 33 || material[0] !== 1) {
      throw new Refused("pinned key: only Ed25519 (type 0x01) log keys");
    }
    const digest = await sha256(concat(encoder.encode(name), Uint8Array.of(0x0a), material));
    if (hex(digest.slice(0, 4)) !== keyHex) {
      throw new Refused("pinned key: key ID does not match its name and key");
    }
    return { name, keyId: digest.slice(0, 4), publicKey: material.slice(1) };
  }

  // RFC 9162 section 2.1.3.2: the root an inclusion proof leads to (numbers, not 32-bit ops).
  async function rootFromProof(index, size, leaf, proof) {
    if (!(index < size)) throw new Refused(`inclusion: index ${index} is not below size ${size}`);
    let fn = index;
    let sn = size - 1;
    let r = leaf;
    for (const p of proof) {
      if (sn === 0) throw new Refused("inclusion proof is longer than the path to the root");
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
    if (sn !== 0) throw new Refused("inclusion proof is shorter than the path to the root");
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
      throw new Refused(`pinned key: not an Ed25519 public key (${error})`);
    }
    return crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  }

  async function verify(form) {
    const steps = [];
    if (!window.isSecureContext || !window.crypto || !crypto.subtle) {
      throw new Refused(
        "this page is not in a secure context (HTTPS or loopback), so the browser offers " +
          "no WebCrypto: nothing was checked",
      );
    }
    const pinned = form.querySelector("#vkey").value;
    if (!pinned.trim()) throw new Refused("pin a log key first: nothing was checked");
    const key = await parseKey(pinned);
    const bundle = parseBundle(form.querySelector("#bundle").value.replace(/\r\n/g, "\n"));
    const expectedIndex = Number(form.dataset.index);
    if (bundle.index !== expectedIndex) {
      throw new Refused(`the bundle is for entry #${bundle.index}, not #${expectedIndex}`);
    }
    const leaf = await leafHash(bundle.entry);
    steps.push(`leaf hash of the entry in the bundle: ${hex(leaf)}`);
    const expectedLeaf = form.dataset.expectedLeaf;
    if (expectedLeaf) {
      if (hex(leaf) !== expectedLeaf) {
        throw new Refused(`the entry's leaf hash is not the ${expectedLeaf} the link named`);
      }
      steps.push("it is the leaf hash the diagram's link named");
    }
    const checkpoint = parseCheckpoint(bundle.checkpoint);
    if (checkpoint.origin !== key.name) {
      throw new Refused(`checkpoint origin ${checkpoint.origin} is not the pinned key's ${key.name}`);
    }
    const signed = checkpoint.signatures.find(
      (s) => s.name === key.name && same(s.keyId, key.keyId),
    );
    if (!signed) throw new Refused("the checkpoint carries no signature by the pinned key");
    const good = await ed25519Verify(key.publicKey, signed.signature, encoder.encode(checkpoint.body));
    if (good === false) throw new Refused("the checkpoint's signature does not verify with the pinned key");
    if (good === null) {
      steps.push(
        "this browser has no Ed25519 in WebCrypto: the checkpoint's signature was NOT checked; " +
          "only the proof against the checkpoint's root was",
      );
    } else {
      steps.push(`checkpoint signature (Ed25519) verified with the pinned key ${key.name}`);
    }
    const root = await rootFromProof(bundle.index, checkpoint.size, leaf, bundle.proof);
    if (!same(root, checkpoint.root)) {
      throw new Refused(
        `inclusion proof for #${bundle.index} does not lead to the checkpoint's root ` +
          `(size ${checkpoint.size})`,
      );
    }
    steps.push(
      `inclusion proof (${bundle.proof.length} hashes) leads to the root of the checkpoint ` +
        `of ${checkpoint.size} entries`,
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
    const remembered = window.localStorage.getItem(KEY_STORE);
    if (remembered && !form.querySelector("#vkey").value) form.querySelector("#vkey").value = remembered;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      show(outcome, "", "Checking…", []);
      try {
        const done = await verify(form);
        window.localStorage.setItem(KEY_STORE, form.querySelector("#vkey").value.trim());
        const what = done.signatureChecked ? "VERIFIED" : "PROOF VERIFIED, SIGNATURE NOT CHECKED";
        show(
          outcome,
          "verified",
          `${what}: entry #${done.index} is in the log of ${done.size} entries`,
          done.steps,
        );
      } catch (error) {
        const reason = error instanceof Refused ? error.message : `unexpected error: ${error}`;
        show(outcome, "refused", `REFUSED: ${reason}`, []);
      }
    });
  });
})();
