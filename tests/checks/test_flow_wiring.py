"""MLRIG-DEP-101..104: the links between the boxes of a flow. A schedule or trigger starts a workflow
that exists, its steps may do what they do, an in-cluster address reaches a Service, and a canary
graph's steps call a path their model servers answer."""

from __future__ import annotations

import yaml

from .helpers import findings, k8s, record

ARGO = "argoproj.io/v1alpha1"
RBAC = "rbac.authorization.k8s.io/v1"


def workflow_template(name: str, templates: list[dict], **spec) -> dict:
    return k8s(
        "WorkflowTemplate",
        ARGO,
        name,
        {"entrypoint": "main", "serviceAccountName": f"wl-{name}", "templates": templates, **spec},
    )


def container_step(name: str = "main") -> dict:
    return {"name": name, "container": {"image": "app", "args": ["--step=run"]}}


def submit_step(name: str, template: str) -> dict:
    manifest = {"apiVersion": ARGO, "kind": "Workflow", "spec": {"workflowTemplateRef": {"name": template}}}
    return {"name": name, "resource": {"action": "create", "manifest": yaml.safe_dump(manifest)}}


def role(name: str, rules: list[dict]) -> dict:
    return record(
        f"kubernetes:{RBAC}:Role",
        name,
        {"apiVersion": RBAC, "kind": "Role", "metadata": {"name": name, "namespace": "demo"}, "rules": rules},
    )


def binding(name: str, accounts: list[str]) -> dict:
    return record(
        f"kubernetes:{RBAC}:RoleBinding",
        name,
        {
            "apiVersion": RBAC,
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": "demo"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": a, "namespace": "demo"} for a in accounts],
        },
    )


EXECUTOR = [
    role(
        "argo-executor",
        [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}],
    ),
]


# --- MLRIG-DEP-101: references ---------------------------------------------------------------------


def test_a_schedule_of_an_existing_template_and_a_trigger_of_another_pass():
    train = workflow_template("train", [container_step()])
    monitor = workflow_template(
        "monitor",
        [
            {"name": "main", "dag": {"tasks": [{"name": "retrain", "template": "retrain"}]}},
            submit_step("retrain", "train"),
        ],
    )
    cron = k8s("CronWorkflow", ARGO, "train", {"workflowSpec": {"workflowTemplateRef": {"name": "train"}}})
    assert findings("MLRIG-DEP-101", train, monitor, cron) == []


def test_a_schedule_of_a_template_that_does_not_exist_fails():
    cron = k8s("CronWorkflow", ARGO, "train", {"workflowSpec": {"workflowTemplateRef": {"name": "training"}}})
    [found] = findings("MLRIG-DEP-101", workflow_template("train", [container_step()]), cron)
    assert "'training'" in found.message


def test_a_retraining_trigger_naming_a_missing_template_fails():
    monitor = workflow_template(
        "monitor",
        [{"name": "main", "steps": [[{"name": "retrain", "template": "retrain"}]]}, submit_step("retrain", "train")],
    )
    [found] = findings("MLRIG-DEP-101", monitor)
    assert "creates a Workflow from WorkflowTemplate 'train'" in found.message


def test_an_exit_handler_or_task_calling_an_undefined_template_fails():
    broken = workflow_template(
        "train", [{"name": "main", "dag": {"tasks": [{"name": "a", "template": "step"}]}}], onExit="release"
    )
    messages = [f.message for f in findings("MLRIG-DEP-101", broken)]
    assert any("onExit 'release'" in m for m in messages) and any("calls 'step'" in m for m in messages)


# --- MLRIG-DEP-102: RBAC of steps -----------------------------------------------------------------


def test_a_trigger_whose_service_account_may_create_workflows_passes():
    monitor = workflow_template("monitor", [submit_step("main", "train")])
    submit = role("submit", [{"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create", "get"]}])
    records = [monitor, *EXECUTOR, binding("argo-executor", ["wl-monitor"]), submit, binding("submit", ["wl-monitor"])]
    assert findings("MLRIG-DEP-102", *records) == []


def test_a_trigger_without_a_role_to_create_workflows_gets_a_403():
    monitor = workflow_template("monitor", [submit_step("main", "train")])
    [found] = findings("MLRIG-DEP-102", monitor, *EXECUTOR, binding("argo-executor", ["wl-monitor"]))
    assert "needs create on workflows" in found.message


def test_a_create_rule_limited_to_resource_names_never_allows_the_create():
    monitor = workflow_template("monitor", [submit_step("main", "train")])
    named_only = role(
        "submit",
        [{"apiGroups": ["argoproj.io"], "resources": ["workflows"], "resourceNames": ["train"], "verbs": ["create"]}],
    )
    records = [
        monitor,
        *EXECUTOR,
        binding("argo-executor", ["wl-monitor"]),
        named_only,
        binding("submit", ["wl-monitor"]),
    ]
    [found] = findings("MLRIG-DEP-102", *records)
    assert "without resourceNames" in found.hint


def test_a_step_whose_service_account_cannot_report_its_result_fails():
    found = findings("MLRIG-DEP-102", workflow_template("train", [container_step()]), *EXECUTOR)
    assert {f.message.split(" needs ")[1].split(" ")[0] for f in found} == {"create", "patch"}


def test_a_step_bound_to_a_role_the_stack_does_not_hold_is_not_judged():
    """A binding to a role made elsewhere (the platform's ClusterRole): its rules are unknown here."""
    elsewhere = binding("platform-role", ["wl-monitor"])
    elsewhere["inputs"]["roleRef"]["kind"] = "ClusterRole"
    monitor = workflow_template("monitor", [submit_step("main", "train")])
    assert findings("MLRIG-DEP-102", monitor, *EXECUTOR, binding("argo-executor", ["wl-monitor"]), elsewhere) == []


def test_bindings_of_other_service_accounts_grant_this_one_nothing():
    monitor = workflow_template("monitor", [submit_step("main", "train")])
    submit = role("submit", [{"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create"]}])
    records = [monitor, *EXECUTOR, binding("argo-executor", ["wl-monitor"]), submit, binding("submit", ["wl-train"])]
    [found] = findings("MLRIG-DEP-102", *records)
    assert "needs create on workflows" in found.message


def importing_cd() -> dict:
    """A model CD whose `import` step runs as its own service account (deploy-models)."""
    step = {**container_step("import"), "serviceAccountName": "wl-model-import"}
    step["container"] = {**step["container"], "env": [{"name": "AWS_REGION", "value": "us-east-1"}]}
    return workflow_template("deploy-model", [container_step(), step])


def test_a_step_running_as_its_templates_own_service_account_needs_the_executors_rights_for_it_too():
    records = [importing_cd(), *EXECUTOR, binding("argo-executor", ["wl-deploy-model"])]
    found = findings("MLRIG-DEP-102", *records)
    assert found and all("service account wl-model-import" in f.message for f in found)
    both = binding("argo-executor", ["wl-deploy-model", "wl-model-import"])
    assert findings("MLRIG-DEP-102", importing_cd(), *EXECUTOR, both) == []


# --- MLRIG-DEP-103: addresses ---------------------------------------------------------------------

NAMESPACE = k8s("Namespace", "core/v1", "demo", {}, namespace=None)


def service(name: str, port: int) -> dict:
    return k8s("Service", "core/v1", name, {"ports": [{"name": "http", "port": port}]})


def config(text: str) -> dict:
    return record(
        "kubernetes:core/v1:ConfigMap",
        "cfg",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "cfg", "namespace": "demo"},
            "data": {"x": text},
        },
    )


def test_addresses_of_existing_services_and_of_kserve_predictors_pass():
    isvc = k8s("InferenceService", "serving.kserve.io/v1beta1", "scorer", {"predictor": {}})
    text = "uri: http://mlflow.demo.svc.cluster.local:5000\nmirror: http://scorer-predictor.demo.svc.cluster.local/v1"
    assert findings("MLRIG-DEP-103", NAMESPACE, service("mlflow", 5000), isvc, config(text)) == []


def test_an_address_of_a_service_that_does_not_exist_fails():
    [found] = findings("MLRIG-DEP-103", NAMESPACE, config("http://scorer-shadow-predictor.demo.svc.cluster.local/x"))
    assert "no Service scorer-shadow-predictor" in found.message


def test_an_address_on_a_port_the_service_does_not_expose_fails():
    [found] = findings("MLRIG-DEP-103", NAMESPACE, service("mlflow", 80), config("http://mlflow.demo.svc:5000"))
    assert "not 5000" in found.message


# --- MLRIG-DEP-104: graph steps -------------------------------------------------------------------


def custom_isvc(name: str, model_name: str) -> dict:
    container = {"name": "kserve-container", "image": "app", "env": [{"name": "MODEL_NAME", "value": model_name}]}
    return k8s("InferenceService", "serving.kserve.io/v1beta1", name, {"predictor": {"containers": [container]}})


def vllm_isvc(name: str) -> dict:
    model = {"modelFormat": {"name": "huggingface"}, "args": ["--backend=vllm", "--model_name=llm"]}
    return k8s("InferenceService", "serving.kserve.io/v1beta1", name, {"predictor": {"model": model}})


def splitter(name: str, steps: list[dict]) -> dict:
    return k8s(
        "InferenceGraph",
        "serving.kserve.io/v1alpha1",
        name,
        {"nodes": {"root": {"routerType": "Splitter", "steps": steps}}},
    )


def test_a_canary_graph_calling_each_server_under_its_model_name_passes():
    url = "http://scorer-{v}-predictor.demo.svc.cluster.local/v1/models/scorer:predict"
    graph = splitter(
        "scorer",
        [
            {"name": v, "serviceName": f"scorer-{v}", "serviceUrl": url.format(v=v), "weight": 50}
            for v in ("stable", "canary")
        ],
    )
    assert (
        findings("MLRIG-DEP-104", custom_isvc("scorer-stable", "scorer"), custom_isvc("scorer-canary", "scorer"), graph)
        == []
    )


def test_a_canary_graph_left_to_kserves_default_url_misses_the_custom_servers_model_name():
    graph = splitter("scorer", [{"name": "stable", "serviceName": "scorer-stable", "weight": 100}])
    [found] = findings("MLRIG-DEP-104", custom_isvc("scorer-stable", "scorer"), graph)
    assert "/v1/models/scorer-stable:predict" in found.message and "/v1/models/scorer:predict" in found.message


def test_a_vllm_graph_step_on_the_v1_predict_path_fails_and_on_the_chat_api_passes():
    default = splitter("llm", [{"name": "stable", "serviceName": "llm-stable", "weight": 100}])
    assert findings("MLRIG-DEP-104", vllm_isvc("llm-stable"), default)
    chat = "http://llm-stable-predictor.demo.svc.cluster.local/openai/v1/chat/completions"
    explicit = splitter("llm", [{"name": "stable", "serviceName": "llm-stable", "serviceUrl": chat, "weight": 100}])
    assert findings("MLRIG-DEP-104", vllm_isvc("llm-stable"), explicit) == []


# --- MLRIG-DEP-105: identities ----------------------------------------------------------------------


def account(name: str, **annotations: str) -> dict:
    return k8s("ServiceAccount", "core/v1", name, {}, **({"annotations": annotations} if annotations else {}))


def association(name: str) -> dict:
    return record(
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        f"{name}-pod-identity",
        {"namespace": "demo", "serviceAccount": name, "roleArn": f"arn:aws:iam::111111111111:role/{name}"},
    )


def writer(name: str, account_name: str) -> dict:
    container = {"name": "vector", "image": "vector", "env": [{"name": "AWS_REGION", "value": "us-east-1"}]}
    pod = {"serviceAccountName": account_name, "containers": [container]}
    return k8s("Deployment", "apps/v1", name, {"template": {"spec": pod}})


def test_a_pod_calling_aws_as_an_associated_service_account_passes():
    assert (
        findings("MLRIG-DEP-105", account("wl-serving"), association("wl-serving"), writer("logger", "wl-serving"))
        == []
    )


def test_a_pod_calling_aws_without_an_identity_is_denied():
    [found] = findings("MLRIG-DEP-105", account("wl-serving"), writer("logger", "wl-serving"))
    assert "no Pod Identity association" in found.message


def test_an_irsa_annotated_service_account_is_an_identity_too():
    irsa = account("wl-serving", **{"eks.amazonaws.com/role-arn": "arn:aws:iam::111111111111:role/x"})
    assert findings("MLRIG-DEP-105", irsa, writer("logger", "wl-serving")) == []


def test_a_workflow_running_as_a_service_account_that_does_not_exist_is_never_admitted():
    template = workflow_template("train", [container_step()])  # runs as wl-train, which nobody creates
    [found] = findings("MLRIG-DEP-105", template)
    assert "never admitted" in found.message


def test_a_step_running_as_its_own_service_account_needs_that_account_and_its_aws_identity():
    workflow_side = [account("wl-deploy-model"), association("wl-deploy-model")]
    [missing] = findings("MLRIG-DEP-105", importing_cd(), *workflow_side)
    assert "wl-model-import" in missing.message and "never admitted" in missing.message
    [unassociated] = findings("MLRIG-DEP-105", importing_cd(), *workflow_side, account("wl-model-import"))
    assert "wl-model-import" in unassociated.message and "no Pod Identity association" in unassociated.message
    complete = [*workflow_side, account("wl-model-import"), association("wl-model-import")]
    assert findings("MLRIG-DEP-105", importing_cd(), *complete) == []
