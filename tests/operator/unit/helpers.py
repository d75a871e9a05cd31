"""A Portal as the API server returns it (defaults applied), for the pure unit tests."""

from __future__ import annotations

import copy
from typing import Any

from dokportal_operator.spec import PortalSpec, parse

BODY: dict[str, Any] = {
    "apiVersion": "dokportal.dev/v1alpha1",
    "kind": "Portal",
    "metadata": {
        "name": "viernheim",
        "uid": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "generation": 3,
    },
    "spec": {
        "tenant": {
            "displayName": "Jobcenter Viernheim",
            "kind": "jobcenter",
            "referencePrefix": "VH",
        },
        "hostname": "viernheim.dokportal.example.org",
        "ingress": {"controllerNamespace": "ingress-nginx", "clusterIssuer": "letsencrypt"},
        "languages": {"enabled": ["de", "en", "ar"], "default": "de"},
        "storage": {
            "deletionPolicy": "Retain",
            "s3": {
                "endpoint": "http://s3.internal:8333",
                "region": "us-east-1",
                "pathStyle": True,
                "credentialsSecret": {"name": "s3-credentials"},
            },
        },
        "database": {"postgresql": {"connectionSecret": {"name": "db", "key": "url"}}},
        "encryption": {"rotationIntervalDays": 90},
        "app": {
            "image": "registry.example.org/dokportal/portal:1.2.3",
            "imagePullPolicy": "IfNotPresent",
            "replicas": 2,
            "upload": {"maxFileMB": 20, "maxFiles": 20},
            "categories": ["payslip", "other"],
        },
    },
}


def spec(**changes: Any) -> PortalSpec:
    body = copy.deepcopy(BODY)
    for path, value in changes.items():
        target = body
        *parents, leaf = path.split("__")
        for part in parents:
            target = target.setdefault(part, {})
        if value is None:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return parse(body, "dokportal")
