"""Validates rendered Kubernetes manifests, every object, with no silent pass.

Built-in kinds are checked by kubernetes-validate against the OpenAPI schemas of one pinned
Kubernetes version, strictly (unknown fields are errors). kubernetes-validate only *warns* and
exits 0 on kinds it has no schema for, such as prometheus-operator's ServiceMonitor, so those
are checked here against the models that cloudcoil-models-prometheus-operator generates from
the prometheus-operator CRDs (types, patterns, enums, required fields), plus a check that no
field was dropped as unknown. Any other kind is an error.

Usage: validate_manifests.py --kubernetes-version 1.33.0 FILE...
       validate_manifests.py --self-test   (proves both checks reject broken objects)
"""

import argparse
import sys

import kubernetes_validate
import pydantic
import yaml
from cloudcoil.models.prometheus_operator import v1 as promop

PROMOP_GROUP = "monitoring.coreos.com/"


def unknown_fields(given, kept, path=""):
    """Paths present in the input but dropped by the model: fields the CRD does not have."""
    if isinstance(given, dict) and isinstance(kept, dict):
        for k, v in given.items():
            if k not in kept:
                yield f"{path}.{k}"
            else:
                yield from unknown_fields(v, kept[k], f"{path}.{k}")
    elif isinstance(given, list) and isinstance(kept, list):
        for i, (a, b) in enumerate(zip(given, kept)):
            yield from unknown_fields(a, b, f"{path}[{i}]")


def check_promop(doc):
    cls = getattr(promop, doc["kind"], None)
    if cls is None or doc.get("apiVersion") != "monitoring.coreos.com/v1":
        return f"no prometheus-operator model for {doc.get('apiVersion')} {doc['kind']}"
    try:
        model = cls.model_validate(doc)
    except pydantic.ValidationError as e:
        return str(e)
    kept = model.model_dump(by_alias=True, exclude_unset=True, mode="json")
    bad = list(unknown_fields(doc, kept))
    if bad:
        return "unknown field(s): " + ", ".join(bad)
    return None


def check_builtin(doc, version):
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        return f"{'.'.join(str(p) for p in e.path)}: {e.message}"
    except kubernetes_validate.SchemaNotFoundError as e:
        return e.message
    return None


def check(doc, version):
    """Returns (checker name, error or None)."""
    if doc.get("apiVersion", "").startswith(PROMOP_GROUP):
        return "prometheus-operator", check_promop(doc)
    return "kubernetes", check_builtin(doc, version)


def validate_files(files, version):
    counts = {"kubernetes": 0, "prometheus-operator": 0}
    failed = 0
    for f in files:
        with open(f) as fh:
            docs = [d for d in yaml.safe_load_all(fh) if d]
        for doc in docs:
            name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            checker, err = check(doc, version)
            if err:
                failed += 1
                print(f"FAIL {f}: {name} ({checker}): {err}")
            else:
                counts[checker] += 1
    ok = sum(counts.values())
    print(
        f"validate: {ok} passed, {failed} failed "
        f"({counts['kubernetes']} against Kubernetes {version} schemas (strict), "
        f"{counts['prometheus-operator']} against prometheus-operator "
        f"{promop_version()} CRD models) in {len(files)} rendering(s)"
    )
    return failed == 0 and ok > 0


def promop_version():
    from importlib.metadata import version

    return "v" + ".".join(version("cloudcoil.models.prometheus_operator").split(".")[:3])


BROKEN = [
    # Unknown field in a container (a typo).
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i", "readOnlyRootFilesytem": True}]},
    },
    # Wrong type.
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": "many"}]},
    },
    # A kind nobody has a schema for.
    {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}},
    # ServiceMonitor: unknown field, then a bad interval.
    {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "m"},
        "spec": {"selector": {}, "endpoints": [{"portt": "metrics"}]},
    },
    {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": "m"},
        "spec": {"selector": {}, "podMetricsEndpoints": [{"port": "m", "interval": "5x"}]},
    },
    {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "r"},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up", "fr": "5m"}]}]},
    },
]

GOOD = [
    {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "r"},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0", "for": "5m"}]}]},
    },
]


def self_test(version):
    ok = True
    for doc in BROKEN:
        _, err = check(doc, version)
        if err is None:
            ok = False
            print(f"self-test FAIL: accepted a broken {doc['kind']}")
    for doc in GOOD:
        _, err = check(doc, version)
        if err is not None:
            ok = False
            print(f"self-test FAIL: rejected a valid {doc['kind']}: {err}")
    print(f"validate self-test: {'passed' if ok else 'FAILED'} ({len(BROKEN)} broken objects rejected, {len(GOOD)} valid accepted)")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubernetes-version", required=True)
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    if a.self_test:
        return 0 if self_test(a.kubernetes_version) else 1
    return 0 if validate_files(a.files, a.kubernetes_version) else 1


if __name__ == "__main__":
    sys.exit(main())
