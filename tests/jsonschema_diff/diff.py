# Differential check of src/core/jsonschema.c against Python jsonschema (Draft202012Validator):
# random 2020-12 schemas and instances, every verdict compared. Usage: diff.py CLI SEED COUNT
# (build CLI as docs/internals/JSONSCHEMA.md says). Not run by ctest.
import json, random, subprocess, sys
from jsonschema import Draft202012Validator
R = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
KEYS = ["a", "b", "c", "x1", "ab"]
STRS = ["", "a", "ab", "abc", "\u00e9\u00e9", "xyz", "a1", "B"]
NUMS = [0, 1, 2, 2.5, -1, 10, 1.0, 3, 0.5, 7]
PATS = ["^a", "b$", "^x[0-9]", "c", "^[a-z]+$"]
TYPES = ["null", "boolean", "object", "array", "number", "string", "integer"]

def inst(d=0):
    k = R.randrange(7 if d < 3 else 5)
    if k == 0: return None
    if k == 1: return R.choice([True, False])
    if k == 2: return R.choice(NUMS)
    if k == 3: return R.choice(STRS)
    if k == 4: return R.choice(NUMS + STRS)
    if k == 5: return [inst(d + 1) for _ in range(R.randrange(5))]
    return {R.choice(KEYS): inst(d + 1) for _ in range(R.randrange(5))}

def schema(d, ndefs):
    if d > 3 or R.random() < 0.15:
        return R.choice([True, False, {}, {"type": R.choice(TYPES)}])
    s = {}
    for _ in range(R.randrange(1, 4)):
        kw = R.choice(["type", "enum", "const", "properties", "required", "additionalProperties",
            "patternProperties", "items", "prefixItems", "minItems", "maxItems", "uniqueItems",
            "contains", "minLength", "maxLength", "pattern", "minimum", "maximum",
            "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "anyOf", "oneOf", "allOf",
            "not", "if", "dependentRequired", "dependentSchemas", "propertyNames",
            "minProperties", "maxProperties", "unevaluatedProperties", "unevaluatedItems",
            "$ref", "unevaluatedProperties", "unevaluatedItems", "properties", "anyOf"])
        sub = lambda: schema(d + 1, ndefs)
        if kw == "type": s[kw] = R.choice(TYPES) if R.random() < .6 else R.sample(TYPES, 2)
        elif kw == "enum": s[kw] = [inst(2) for _ in range(R.randrange(1, 4))]
        elif kw == "const": s[kw] = inst(2)
        elif kw in ("properties", "dependentSchemas"): s[kw] = {k: sub() for k in R.sample(KEYS, R.randrange(1, 3))}
        elif kw == "patternProperties": s[kw] = {p: sub() for p in R.sample(PATS, R.randrange(1, 3))}
        elif kw == "required": s[kw] = R.sample(KEYS, R.randrange(1, 3))
        elif kw == "dependentRequired": s[kw] = {R.choice(KEYS): R.sample(KEYS, R.randrange(1, 3))}
        elif kw in ("additionalProperties", "items", "contains", "not", "propertyNames",
                    "unevaluatedProperties", "unevaluatedItems"): s[kw] = sub()
        elif kw == "prefixItems": s[kw] = [sub() for _ in range(R.randrange(1, 3))]
        elif kw in ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties"): s[kw] = R.randrange(4)
        elif kw == "uniqueItems": s[kw] = R.random() < .8
        elif kw == "pattern": s[kw] = R.choice(PATS)
        elif kw in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"): s[kw] = R.choice(NUMS)
        elif kw == "multipleOf": s[kw] = R.choice([1, 2, 0.5, 2.5, 3])
        elif kw in ("anyOf", "oneOf", "allOf"): s[kw] = [sub() for _ in range(R.randrange(1, 4))]
        elif kw == "if":
            s["if"] = sub()
            if R.random() < .7: s["then"] = sub()
            if R.random() < .7: s["else"] = sub()
        elif kw == "$ref" and ndefs: s[kw] = "#/$defs/d%d" % R.randrange(ndefs)
        if "contains" in s and R.random() < .4:
            s["minContains"] = R.randrange(3)
            if R.random() < .5: s["maxContains"] = R.randrange(3)
    return s

def top():
    defs = {}
    for i in range(R.randrange(3)):
        defs["d%d" % i] = schema(1, i)  # refs only to earlier defs: no cycle
    s = schema(0, len(defs))
    if defs: s = dict(s, **{"$defs": defs}) if isinstance(s, dict) else {"allOf": [s], "$defs": defs}
    return s

p = subprocess.Popen([sys.argv[1]], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
bad = 0; total = 0; VAL = [0, 0]
for i in range(n):
    s = top()
    try:
        Draft202012Validator.check_schema(s)
    except Exception:
        continue
    v = Draft202012Validator(s)
    insts = [inst() for _ in range(20)]
    want = "".join("1" if v.is_valid(x) else "0" for x in insts)
    p.stdin.write(json.dumps({"schema": s, "instances": insts}) + "\n"); p.stdin.flush()
    got = p.stdout.readline().strip()
    total += len(insts); VAL[0] += want.count("1")
    if "unevaluated" in json.dumps(s): VAL[1] += 1
    if got != want:
        bad += 1
        if bad <= 5:
            print("MISMATCH schema", json.dumps(s))
            if got.startswith("E") or got.startswith("P"): print("  ", got)
            else:
                for x, a, b in zip(insts, want, got):
                    if a != b: print("   inst", json.dumps(x), "python", a, "ours", b)
p.stdin.close()
p.wait()
print("valid", VAL[0], "schemas with unevaluated", VAL[1], "schemas", n, "instances", total, "mismatching schemas", bad)
sys.exit(1 if bad else 0)
