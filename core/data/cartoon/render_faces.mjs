// Reads one JSON job on stdin and writes one JSON answer on stdout:
//   job:    {"items": [{"seed": 7, "gender": "male", "race": "white", "overrides": {...}, "base": <face or null>}]}
//   answer: {"index": {feature: [ids]}, "items": [{"face": <face>, "full": <svg>, "head": <svg>}]}
// Math.random is replaced by a seeded generator per item, so the same job gives the same faces.
import { generate, faceToSvgString, svgsIndex } from "facesjs";

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function merge(target, patch) {
  for (const [key, value] of Object.entries(patch ?? {})) {
    if (value && typeof value === "object" && !Array.isArray(value)) {
      target[key] = merge(target[key] ?? {}, value);
    } else {
      target[key] = value;
    }
  }
  return target;
}

// The head alone (skin, ears and features): its outline is the face box.
const HIDDEN_FOR_HEAD = ["body", "jersey", "hair", "hairBg", "accessories"];

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const job = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const items = job.items.map((item) => {
  Math.random = mulberry32(item.seed);
  const face = item.base
    ? merge(structuredClone(item.base), item.overrides)
    : generate(item.overrides, { gender: item.gender, race: item.race });
  const head = structuredClone(face);
  for (const key of HIDDEN_FOR_HEAD) head[key].id = "none";
  return { face, full: faceToSvgString(face), head: faceToSvgString(head) };
});
process.stdout.write(JSON.stringify({ index: svgsIndex, items }));
