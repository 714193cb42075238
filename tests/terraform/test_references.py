"""A static stand-in for ``terraform validate`` (which needs provider downloads, blocked here):
every ``var.``, ``local.``, resource, data source and module output that the code references
is declared, and every module call passes exactly the variables the module declares."""

from __future__ import annotations

import re

from tests.terraform.conftest import TERRAFORM_DIR, Module, clean, parse_module

# Resource types referenced as expressions look like aws_x.name.attr (data sources: data.aws_x).
RESOURCE_REF = re.compile(r"(?<![\w.])(aws_[a-z0-9_]+)\.([a-z0-9_]+)\b")
DATA_REF = re.compile(r"\bdata\.(aws_[a-z0-9_]+)\.([a-z0-9_]+)\b")


def _code(module: Module) -> str:
    """The module's source without comments (whole-line and trailing)."""
    text = "\n".join((module.path / name).read_text() for name in sorted(module.files))
    text = re.sub(r"(?m)^\s*#.*$", "", text)
    return re.sub(r"(?m)\s+#(?![{]).*$", "", text)


def _declared(module: Module) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    resources = {(t, n) for t, n, _ in module.blocks("resource")}
    data = {(t, n) for t, n, _ in module.blocks("data")}
    return resources, data


def test_every_reference_is_declared(all_modules: dict[str, Module]) -> None:
    for name, module in all_modules.items():
        code = _code(module)
        variables = set(module.variables)
        local_names = set(module.locals)
        resources, data = _declared(module)
        used_vars = set(re.findall(r"\bvar\.(\w+)", code))
        assert used_vars <= variables, f"{name}: undeclared var.{used_vars - variables}"
        unused = variables - used_vars
        assert not unused, f"{name}: variables never used: {unused}"
        used_locals = set(re.findall(r"\blocal\.(\w+)", code))
        assert used_locals <= local_names, f"{name}: undeclared local.{used_locals - local_names}"
        for rtype, rname in DATA_REF.findall(code):
            assert (rtype, rname) in data, f"{name}: data.{rtype}.{rname} not declared"
        without_data = DATA_REF.sub("", code)
        for rtype, rname in RESOURCE_REF.findall(without_data):
            assert (rtype, rname) in resources, f"{name}: {rtype}.{rname} not declared"


def test_module_calls_match_module_variables(root: Module) -> None:
    for call, args in root.module_calls.items():
        child = parse_module(TERRAFORM_DIR / args["source"])
        passed = set(args) - {"source", "count", "for_each", "depends_on", "providers"}
        declared = set(child.variables)
        assert passed <= declared, f"{call}: unknown arguments {passed - declared}"
        required = {v for v, body in child.variables.items() if "default" not in body}
        assert required <= passed, f"{call}: missing required {required - passed}"


def test_module_outputs_used_by_the_root_exist(root: Module) -> None:
    code = _code(root)
    for call, output in re.findall(r"\bmodule\.(\w+)(?:\[0\])?\.(\w+)", code):
        child = parse_module(TERRAFORM_DIR / root.module_calls[call]["source"])
        outputs = {
            o for parsed in child.files.values() for e in parsed.get("output", []) for o in clean(e)
        }
        assert output in outputs, f"module.{call}.{output} is not an output of {call}"
