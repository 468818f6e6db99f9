# Robustness: random, mostly invalid schemas (keywords with values of any type, odd $ref/$id
# strings) and instances through the CLI, built with ASan+UBSan. Usage: junk.py CLI SEED COUNT.
import json, random, subprocess, sys
R = random.Random(int(sys.argv[2]))
KW = ["type","enum","const","properties","required","additionalProperties","patternProperties","items",
 "prefixItems","additionalItems","minItems","maxItems","uniqueItems","contains","minContains","maxContains",
 "minLength","maxLength","pattern","minimum","maximum","exclusiveMinimum","exclusiveMaximum","multipleOf",
 "anyOf","oneOf","allOf","not","if","then","else","dependentRequired","dependentSchemas","dependencies",
 "propertyNames","minProperties","maxProperties","unevaluatedProperties","unevaluatedItems","$ref","$id",
 "$anchor","$defs","definitions","$schema","format","$dynamicAnchor"]
REFS = ["#", "#/", "#/$defs/a", "#/definitions/a", "#a", "a.json", "#/properties/x", "http://x/y#/a", "#/%", "#/~2", "#/items/0", "x#/$defs/a", ""]
IDS = ["http://x/y", "a.json", "#a", "urn:x:y", "../b/", "http://x/y#", "", "/"]
def val(d):
    k = R.randrange(10)
    if k == 0: return None
    if k == 1: return R.choice([True, False])
    if k == 2: return R.choice([0, -1, 1, 2.5, 1e308, -0.0, 3, 10**18])
    if k == 3: return R.choice(["string","integer","a","^a(","[","\\", "", "null", "(a+)+$"])
    if k == 4 and d < 5: return [val(d+1) for _ in range(R.randrange(4))]
    if d < 5: return sch(d+1)
    return {}
def sch(d):
    s = {}
    for _ in range(R.randrange(5)):
        kw = R.choice(KW)
        if kw == "$ref": s[kw] = R.choice(REFS) if R.random() < .9 else val(d)
        elif kw == "$id": s[kw] = R.choice(IDS)
        elif kw in ("$defs","definitions","properties","patternProperties","dependentSchemas"):
            s[kw] = {R.choice(["a","x","b","^a","~","/"]): (sch(d+1) if d < 5 else True) for _ in range(R.randrange(3))}
        else: s[kw] = val(d)
    return s
p = subprocess.Popen([sys.argv[1]], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
ok = err = 0
for i in range(int(sys.argv[3])):
    s = sch(0)
    insts = [val(2) for _ in range(5)]
    p.stdin.write(json.dumps({"schema": s, "instances": insts}) + "\n"); p.stdin.flush()
    got = p.stdout.readline()
    if not got: print("CLI DIED on", json.dumps(s)); sys.exit(1)
    if got.startswith("E"): err += 1
    else: ok += 1
print("compiled", ok, "refused", err)
