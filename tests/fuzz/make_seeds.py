#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/HARNESS/) from the repository's
fixtures and the JSON-Schema-Test-Suite (Debian package json-schema-test-suite). The seeds are committed;
run this again (needs python3-yaml) when the fixtures change: python3 tests/fuzz/make_seeds.py"""
import glob
import hashlib
import json
import os

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SUITE = "/usr/share/json-schema-test-suite/tests/draft7"


def writer(harness):
    out = os.path.join(HERE, "corpus", harness)
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):  # inputs that once broke a harness ("regression-*") stay
        if not name.startswith("regression-"):
            os.remove(os.path.join(out, name))

    def write(data):
        if isinstance(data, str):
            data = data.encode()
        name = hashlib.sha1(data).hexdigest()[:16]
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)

    return write


def pair(first, second):
    return json.dumps(first).encode() + b"\0" + json.dumps(second).encode()


def main():
    templates = sorted(glob.glob(f"{ROOT}/tests/fixtures/templates/**/*.y*ml", recursive=True)
                       + glob.glob(f"{ROOT}/tests/conformance/templates/*.yaml")
                       + glob.glob(f"{ROOT}/examples/templates/*.yaml"))
    write = writer("fuzz_template_yaml")
    for path in templates:
        write(open(path, "rb").read())
    write = writer("fuzz_template_json")
    for path in glob.glob(f"{ROOT}/tests/fixtures/templates/**/*.json", recursive=True):
        write(open(path, "rb").read())
    for path in templates:
        try:
            doc = yaml.safe_load(open(path))
        except yaml.YAMLError:
            continue
        write(json.dumps(doc, default=str, indent=1))

    write = writer("fuzz_config")
    for path in glob.glob(f"{ROOT}/tests/fixtures/config/*.yml") + [f"{ROOT}/tests/conformance/config.yml"]:
        write(open(path, "rb").read())

    cases = [json.load(open(p)) for p in sorted(glob.glob(f"{ROOT}/tests/conformance/cases/*.json"))]
    contexts = [c["request"]["context"] for c in cases if "context" in c.get("request", {})]
    write = writer("fuzz_jsonschema")
    for path in templates:
        try:
            doc = yaml.safe_load(open(path))
        except yaml.YAMLError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("schema"), dict):
            for ctx in contexts[:3] + [{}]:
                write(pair(doc["schema"], ctx))
    for path in sorted(glob.glob(f"{SUITE}/*.json")):
        for group in json.load(open(path))[:2]:
            for test in group["tests"][:2]:
                write(pair(group["schema"], test["data"]))

    write = writer("fuzz_regex")
    for path in [f"{SUITE}/pattern.json", f"{SUITE}/patternProperties.json", f"{SUITE}/optional/ecmascript-regex.json"]:
        if not os.path.exists(path):
            continue
        for group in json.load(open(path)):
            patterns = [group["schema"].get("pattern")] + list(group["schema"].get("patternProperties", {}))
            for pattern in filter(None, patterns):
                for test in group["tests"][:2]:
                    subject = test["data"] if isinstance(test["data"], str) else json.dumps(test["data"])
                    write(pattern.encode() + b"\0" + subject.encode())
    for pattern, subject in [("^(a+)+$", "a" * 40 + "!"), ("(?<=b(a+)+)a", "baaa"), ("^(?=.*\\d)(?!x).{8,}$", "abcdefg1"),
                             ("(?<n>a)\\k<n>", "aa"), ("[\\u00e9-\\u00ff]+", "\u00e9t\u00e9"), ("\\bword\\B", "words")]:
        write(pattern.encode() + b"\0" + subject.encode())

    write = writer("fuzz_context")
    for ctx in contexts:
        write(json.dumps(ctx))
    for text in ['{"n": 9007199254740993, "f": 1.5e300, "s": "\\u00e9\\ud83d\\ude00"}', '{"big": 1e131071}',
                 '{"a": [1, -0, 0.1e-5, {"b": null}]}', '{"x": "a\\u0000b"}', '{"n": 1e999999}']:
        write(text)

    write = writer("fuzz_result")
    for c in cases:
        for step in c.get("expect", {}).get("steps", {}).values():
            if isinstance(step, dict) and "results" in step:
                write(json.dumps(step["results"]).encode() + b"\0" + json.dumps({"step": "x", "why": [1, 2]}).encode())
    write(open(f"{ROOT}/tests/fixtures/yaml/psych_scalars.json", "rb").read())
    write(b'{"n": 123456789012345678901234567890}\0{"trace": ["a", "b"]}')


if __name__ == "__main__":
    main()
