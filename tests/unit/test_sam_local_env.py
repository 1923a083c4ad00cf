"""`sam local invoke --env-vars events/env.local.json` can only override variables the template
declares for that function: every one the shipped file sets must be declared there."""

from __future__ import annotations

import json
from pathlib import Path

from charlee_collector.core.settings import Settings
from tests.support import cfn_yaml

ENV_FILE = Path(__file__).resolve().parents[2] / "events" / "env.local.json"


def test_every_variable_of_the_env_file_is_declared_by_the_function_it_targets() -> None:
    template = cfn_yaml.load()
    functions = cfn_yaml.resources(template, "AWS::Serverless::Function")
    overrides = json.loads(ENV_FILE.read_text(encoding="utf-8"))
    assert overrides, "the env file is empty"
    for function, variables in overrides.items():
        assert function in functions, f"{function} is not a function of template.yaml"
        declared = cfn_yaml.function_properties(template, function)["Environment"]["Variables"]
        missing = sorted(set(variables) - set(declared))
        assert not missing, f"{function} does not declare {missing}: SAM would ignore them"
        assert "host.docker.internal" in variables["DATABASE_URL"]  # 127.0.0.1 is the container


def test_the_declared_database_url_is_empty_so_deployed_code_reads_the_secret() -> None:
    template = cfn_yaml.load()
    for function in cfn_yaml.resources(template, "AWS::Serverless::Function"):
        declared = cfn_yaml.function_properties(template, function)["Environment"]["Variables"]
        assert declared["DATABASE_URL"] == ""
        deployed = Settings.from_env({"DATABASE_URL": "", "DB_SECRET_ARN": "arn:aws:secretsmanager:x"})
        assert deployed.database_url is None and deployed.db_secret_arn == "arn:aws:secretsmanager:x"
