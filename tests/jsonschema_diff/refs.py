# $id / $anchor / $ref resolution cases compared with Python jsonschema (Draft202012Validator).
# Usage: refs.py CLI. Every URI resolves inside the schema, so nothing is fetched.
import json, subprocess, sys
from jsonschema import Draft202012Validator
cases = [
 ({"$id": "http://example.com/schema-relative-uri-defs1.json",
   "properties": {"foo": {"$id": "schema-relative-uri-defs2.json",
      "$defs": {"inner": {"properties": {"bar": {"type": "string"}}}}, "$ref": "#/$defs/inner"}},
   "$ref": "schema-relative-uri-defs2.json"},
  [{"foo": {"bar": 1}, "bar": "a"}, {"foo": {"bar": "a"}, "bar": 1}, {"foo": {"bar": "a"}, "bar": "a"}]),
 ({"$id": "http://localhost:1234/draft2020-12/tree", "type": "object",
   "properties": {"meta": {"type": "string"}, "nodes": {"type": "array", "items": {"$ref": "node"}}},
   "required": ["meta", "nodes"],
   "$defs": {"node": {"$id": "http://localhost:1234/draft2020-12/node", "type": "object",
      "properties": {"value": {"type": "number"}, "subtree": {"$ref": "tree"}}, "required": ["value"]}}},
  [{"meta": "r", "nodes": [{"value": 1, "subtree": {"meta": "c", "nodes": [{"value": 1.1}]}}]},
   {"meta": "r", "nodes": [{"value": 1, "subtree": {"meta": "c", "nodes": [{"value": "x"}]}}]}]),
 ({"$defs": {"A": {"unevaluatedProperties": False}}, "properties": {"prop1": {"type": "string"}}, "$ref": "#/$defs/A"},
  [{"prop1": "match"}, {}]),
 ({"$defs": {"a_string": {"type": "string"}}, "enum": [{"$ref": "#/$defs/a_string"}]},
  ["s", {"type": "string"}, {"$ref": "#/$defs/a_string"}]),
 ({"$ref": "#foo", "$defs": {"A": {"$anchor": "foo", "type": "integer"}}}, [1, "a"]),
 ({"$id": "http://localhost:1234/root", "$ref": "http://localhost:1234/nested.json#foo",
   "$defs": {"A": {"$id": "nested.json", "$defs": {"B": {"$anchor": "foo", "type": "integer"}}}}}, [1, "a"]),
 ({"$id": "http://localhost:1234/root", "$ref": "nested.json#/$defs/B",
   "$defs": {"A": {"$id": "nested.json", "$defs": {"B": {"$id": "b.json", "$ref": "#/$defs/C", "$defs": {"C": {"type": "integer"}}}}}}}, [1, "a"]),
 ({"$id": "urn:uuid:deadbeef-1234-ffff-ffff-4321feebdaed", "properties": {"foo": {"$ref": "#/$defs/bar"}}, "$defs": {"bar": {"type": "string"}}},
  [{"foo": "bar"}, {"foo": 12}]),
 ({"$id": "urn:uuid:deadbeef-1234-ffff-ffff-4321feebdaed", "properties": {"foo": {"$ref": "urn:uuid:deadbeef-1234-ffff-ffff-4321feebdaed#/$defs/bar"}}, "$defs": {"bar": {"type": "string"}}},
  [{"foo": "bar"}, {"foo": 12}]),
 ({"$id": "http://example.com/a/b/root.json", "$defs": {"x": {"$id": "../c/x.json", "type": "null", "$defs": {"y": {"$id": "y/", "$defs": {"z": {"$id": "z.json", "type": "integer"}}}}}},
   "properties": {"p": {"$ref": "../c/x.json"}, "q": {"$ref": "/a/c/y/z.json"}, "r": {"$ref": "http://example.com/a/c/y/z.json"}}},
  [{"p": None, "q": 1}, {"p": 1}, {"q": "s"}, {"r": 2}, {"r": 2.5}]),
 ({"allOf": [{"$ref": "#/$defs/x"}], "$defs": {"x": {"$id": "http://e.com/x", "$anchor": "k", "properties": {"a": {"$ref": "#k"}}, "type": "object"}}},
  [{"a": {"a": {}}}, {"a": 1}]),
 ({"$defs": {"foo": {"$id": "http://e.com/foo", "$ref": "#/$defs/bar", "$defs": {"bar": {"type": "string"}}}, "bar": {"type": "integer"}}, "$ref": "http://e.com/foo"},
  ["s", 1]),
]
bad = False
p = subprocess.Popen([sys.argv[1]], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
for s, insts in cases:
    v = Draft202012Validator(s)
    want = "".join("1" if v.is_valid(x) else "0" for x in insts)
    p.stdin.write(json.dumps({"schema": s, "instances": insts}) + "\n"); p.stdin.flush()
    got = p.stdout.readline().strip()
    print("ok  " if got == want else "BAD ", want, got, json.dumps(s)[:90])
    bad = bad or got != want
sys.exit(1 if bad else 0)
