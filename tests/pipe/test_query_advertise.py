"""What workers advertise in their client ids, and how a supervisor proxies."""

from __future__ import annotations

import socket

import orjson
import pytest

from slither_stream.errors import ConfigError
from slither_stream.observability import Members, MetricsRegistry, MetricsServer
from slither_stream.observability.server import HttpReply
from slither_stream.pipe.query.advertise import Advertised, check_url, endpoint_url, parse
from slither_stream.pipe.query.proxy import StateProxy, fetch


def test_an_advertisement_round_trips_through_the_client_id() -> None:
    advert = Advertised("1", "http://host-a:9464")
    assert advert.client_id == "slither;member=1;url=http://host-a:9464"
    assert parse(advert.client_id) == advert
    assert parse(Advertised("0").client_id) == Advertised("0")
    mine = Advertised("0", "http://a:1", "c0ffee00")
    assert mine.client_id == "slither;member=0;id=c0ffee00;url=http://a:1"
    assert parse(mine.client_id) == mine


@pytest.mark.parametrize("foreign", ["rdkafka", "slither-consumer-3", "slither;", "slither;x",
                                     "slither;url=http://a:1", "slither;member=1;url=ftp://a"])
def test_client_ids_of_others_advertise_nothing(foreign: str) -> None:
    assert parse(foreign) is None


@pytest.mark.parametrize("bad", ["host:9464", "http://a:1/path", "http://a:1;x", ""])
def test_bad_urls_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        check_url(bad)
    with pytest.raises(ConfigError):
        Advertised("0", bad)


def test_the_endpoint_url_names_this_host_for_a_wildcard_bind() -> None:
    assert endpoint_url("127.0.0.1", 9464) == "http://127.0.0.1:9464"
    assert endpoint_url("0.0.0.0", 9464) == f"http://{socket.gethostname()}:9464"
    assert endpoint_url("0.0.0.0", 9464, "http://public:80/") == "http://public:80"


def _member(answer: HttpReply) -> MetricsServer:
    server = MetricsServer(MetricsRegistry(), port=0)
    server.add_route("/state", lambda path, query: answer)
    return server.start()


def test_the_proxy_asks_the_sibling_a_421_names_and_returns_other_hosts_as_they_are(
        ) -> None:
    front = "http://front:1"
    found = HttpReply.json(200, {"value": 7, "member": "1"})
    first = _member(HttpReply.json(421, {"code": "not_owner", "owner": front, "member": "1"}))
    second = _member(found)
    elsewhere = _member(HttpReply.json(421, {"code": "not_owner", "owner": "http://b:2",
                                             "member": "0"}))
    try:
        members = Members()
        members.set("0", first.url)
        members.set("1", second.url)
        proxy = StateProxy(members, front)
        reply = proxy("/state/s/t/k", "")
        assert (reply.status, orjson.loads(reply.body)["value"]) == (200, 7)
        overview = orjson.loads(proxy("/state", "").body)
        assert set(overview["members"]) == {"0", "1"}

        members.set("0", elsewhere.url)
        reply = proxy("/state/s/t/k", "")
        assert reply.status == 421 and orjson.loads(reply.body)["owner"] == "http://b:2"

        members.set("0", "http://127.0.0.1:9")  # down: the next member is asked
        assert proxy("/state/s/t/k", "").status == 200
        members.remove("1")
        reply = proxy("/state/s/t/k", "")
        assert (reply.status, orjson.loads(reply.body)["code"]) == (502, "unreachable")
        assert fetch(f"{second.url}/state/x/y/z", 5).status == 200
    finally:
        for server in (first, second, elsewhere):
            server.stop()
