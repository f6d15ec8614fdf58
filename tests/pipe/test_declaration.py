from __future__ import annotations

from typing import Any

import pytest

from slither_stream.errors import ConfigError
from slither_stream.item import Item
from slither_stream.pipe import Pipe


def ident(item: Item, ctx: Any) -> Any:
    return item.payload


def high(item: Item) -> bool:
    return bool(item.payload["score"] > 0.9)


def scoring() -> Pipe:
    pipe = Pipe("scoring", partitions=3)
    pipe.local("enrich", ident)
    pipe.compute("score", "tests.pipe.helpers:double_batch", batch_size=8, max_in_flight=2)
    pipe.router("route", [(high, "accept"), (lambda item: True, "reject")])
    pipe.outputs("accept", "reject")
    pipe.on_error("score", "skip")
    pipe.on_error("*", "halt")
    return pipe


def test_describe_lists_stages_topics_groups_outputs() -> None:
    graph = scoring().describe()
    assert [s["name"] for s in graph["stages"]] == ["enrich", "score", "route"]
    assert [s["kind"] for s in graph["stages"]] == ["local", "compute", "router"]
    enrich, score, route = graph["stages"]
    assert enrich["input_topic"] == "scoring.enrich.in"
    assert enrich["output_topics"] == ["scoring.score.in"]
    assert score["output_topics"] == ["scoring.route.in"]
    assert route["output_topics"] == ["scoring.out.accept", "scoring.out.default",
                                      "scoring.out.reject"]
    assert score["consumer_group"] == "scoring.score"
    assert score["dlq_topic"] == "scoring.score.dlq"
    assert score["on_error"] == {"policy": "skip"}
    assert enrich["on_error"] == {"policy": "halt"}
    assert score["options"]["batch_size"] == 8
    assert graph["outputs"] == {"accept": "scoring.out.accept", "reject": "scoring.out.reject",
                                "default": "scoring.out.default"}
    assert graph["input_topic"] == "scoring.enrich.in"


def test_generic_stage_matches_specific_builders() -> None:
    pipe = Pipe("p")
    pipe.stage("a", "local", handler=ident)
    pipe.stage("b", "compute", function="tests.pipe.helpers:double_batch")
    pipe.stage("c", "router", routes=[(high, "x")])
    pipe.output("x")
    kinds = [s["kind"] for s in pipe.describe()["stages"]]
    assert kinds == ["local", "compute", "router"]


def test_pipe_without_router_ends_in_default_output() -> None:
    pipe = Pipe("plain").local("only", ident)
    stage = pipe.describe()["stages"][0]
    assert stage["output_topics"] == ["plain.out.default"]


def test_duplicate_stage_name_is_rejected() -> None:
    pipe = Pipe("p").local("a", ident)
    with pytest.raises(ConfigError, match="already has a stage named 'a'"):
        pipe.local("a", ident)


def test_route_to_undeclared_output_is_rejected() -> None:
    pipe = Pipe("p").router("r", [(high, "accept")])
    with pytest.raises(ConfigError, match="undeclared output 'accept'"):
        pipe.compile()


def test_unknown_stage_in_on_error_is_rejected() -> None:
    pipe = Pipe("p").local("a", ident)
    with pytest.raises(ConfigError, match="unknown stage 'nope'"):
        pipe.on_error("nope", "skip")


def test_unimportable_compute_function_is_rejected() -> None:
    pipe = Pipe("p")
    with pytest.raises(ConfigError, match="cannot import module 'no_such_module_xyz'"):
        pipe.compute("c", "no_such_module_xyz:f")
    with pytest.raises(ConfigError, match="has no attribute 'missing'"):
        pipe.compute("c", "tests.pipe.helpers:missing")
    with pytest.raises(ConfigError, match="is not callable"):
        pipe.compute("c", "tests.pipe.helpers:not_callable")
    with pytest.raises(ConfigError, match="module:function"):
        pipe.compute("c", "just_a_name")


def test_bad_options_are_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown error policy"):
        Pipe("p").local("a", ident).on_error("a", "explode")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="cardinality"):
        Pipe("p").local("a", ident, cardinality="some")
    with pytest.raises(ConfigError, match="unknown kind"):
        Pipe("p").stage("a", "gpu")
    with pytest.raises(ConfigError, match="invalid"):
        Pipe("bad name")
    with pytest.raises(ConfigError, match="router must be the last stage"):
        Pipe("p").router("r", [(high, "x")]).local("after", ident)
    with pytest.raises(ConfigError, match="no stages"):
        Pipe("p").compile()
    with pytest.raises(ConfigError, match="delivery"):
        Pipe("p", delivery="maybe")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="batch_size"):
        Pipe("p").local("a", ident, batch_size=0)


def test_retry_policy_and_namespace() -> None:
    pipe = Pipe("p").local("a", ident).on_error("a", "retry", max_attempts=5, then="skip")
    definition = pipe.compile()
    assert definition.stage("a").policy.attempts == 5
    assert definition.stage("a").policy.final.name == "skip"
    moved = definition.with_namespace("p-run1")
    assert moved.stage("a").input_topic == "p-run1.a.in"
    assert moved.output_topics == {"default": "p-run1.out.default"}
    assert moved.stage("a").group == "p-run1.a"


def test_describe_is_json_serializable_with_objects_in_options() -> None:
    import json

    from slither_stream import dispatch

    pipe = Pipe("p").compute("c", "tests.pipe.helpers:double_batch",
                             strategy=dispatch.KeyPartition(), executor="inline")
    text = json.dumps(pipe.describe())
    assert "KeyPartition" in text and "tests.pipe.helpers:double_batch" in text


def test_as_completed_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match=r"ordering='as_completed' is not available.*in order"):
        Pipe("p", ordering="as_completed")
    with pytest.raises(ConfigError, match=r"compute stage 'c': ordering='as_completed'.*"
                                          r"max_in_flight"):
        Pipe("p").compute("c", "tests.pipe.helpers:double_batch", ordering="as_completed")
    Pipe("p").compute("c", "tests.pipe.helpers:double_batch", ordering="preserve")


def test_skip_with_a_callback_is_refused_on_a_stage() -> None:
    from slither_stream.policies import skip

    with pytest.raises(ConfigError, match=r"skip\(on_skip=...\) reports dispatch batches"):
        Pipe("p").local("a", ident).on_error("a", skip(lambda items, error: None))
    Pipe("p").local("a", ident).on_error("a", skip())
