"""RegistryConfig: where options come from, and that secrets never show."""

from __future__ import annotations

from pathlib import Path

import pytest

from slither_stream.errors import ConfigError
from slither_stream.serde import RegistryConfig, subject_name
from slither_stream.serde.registry import resolve_config
from slither_stream.serde.registry.config import CONFIG_ENV, TOKEN_ENV, URL_ENV, USER_INFO_ENV

SECRET = "pa55-w0rd-s3cret"


def test_credentials_in_the_url_move_out_of_it_and_never_show() -> None:
    config = RegistryConfig(url=f"https://alice:{SECRET}@registry.example:8081/apis/ccompat/v7/")
    assert config.url == "https://registry.example:8081/apis/ccompat/v7"
    assert config.user_info == f"alice:{SECRET}"
    shown = [repr(config), str(config), config.display_url, str(config.describe())]
    assert all(SECRET not in text for text in shown), shown
    assert config.describe() == {"url": "https://registry.example:8081/apis/ccompat/v7",
                                 "auth": "basic (user alice)", "tls": True,
                                 "subject_strategy": "topic", "auto_register": False}
    assert config.redact(f"echo alice:{SECRET} and {SECRET}") == "echo *** and ***"
    assert config.client_conf()["basic.auth.user.info"] == f"alice:{SECRET}"
    assert "@" not in config.client_conf()["url"]  # the HTTP library logs URLs


def test_bearer_token_and_tls_options_reach_the_client() -> None:
    config = RegistryConfig(url="https://r:8081", bearer_token=SECRET, ca_location="/ca.pem",
                            certificate_location="/c.pem", key_location="/k.pem",
                            key_password=SECRET)
    conf = config.client_conf()
    assert conf["bearer.auth.credentials.source"] == "STATIC_TOKEN"
    assert conf["bearer.auth.token"] == SECRET
    assert conf["ssl.ca.location"] == "/ca.pem"
    assert conf["ssl.key.password"] == SECRET
    assert conf["max.retries"] == 0  # retries are RegistryClient's
    assert SECRET not in repr(config) and config.auth == "bearer token"
    assert RegistryConfig(url="https://r", verify=False).client_conf()["ssl.ca.location"] is False


@pytest.mark.parametrize("options, fragment", [
    ({"url": "ftp://r"}, r"is not an http\(s\) URL"),
    ({"url": ""}, "url must be"),
    ({"url": "http://r", "user_info": "nocolon"}, "user:password"),
    ({"url": "http://u:p@r", "user_info": "a:b"}, "both in the URL"),
    ({"url": "http://r", "user_info": "a:b", "bearer_token": "t"}, "not both"),
    ({"url": "http://r", "subject_strategy": "nope"}, "subject_strategy must be one of"),
    ({"url": "http://r", "timeout": 0}, "timeout must be a positive"),
    ({"url": "http://r", "auto_register": "yes"}, "auto_register must be true or false"),
    ({"url": "http://r", "key_location": "/k"}, "go with certificate_location"),
])
def test_bad_options_are_refused(options: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as caught:
        RegistryConfig(**options)  # type: ignore[arg-type]
    assert "a:b" not in str(caught.value)


def test_environment_and_config_file(tmp_path: Path) -> None:
    assert RegistryConfig.from_env({}) is None
    file = tmp_path / "registry.toml"
    file.write_text(f'[schema_registry]\nurl = "http://file:1"\nuser_info = "bob:{SECRET}"\n'
                    'subject_strategy = "record"\nauto_register = true\n')
    config = RegistryConfig.from_env({CONFIG_ENV: str(file)})
    assert config is not None
    assert (config.url, config.user_info, config.subject_strategy, config.auto_register) == (
        "http://file:1", f"bob:{SECRET}", "record", True)
    overridden = RegistryConfig.from_env({CONFIG_ENV: str(file), URL_ENV: "http://env:2"})
    assert overridden is not None and overridden.url == "http://env:2"
    token = RegistryConfig.from_env({URL_ENV: "http://env:2", TOKEN_ENV: SECRET})
    assert token is not None and token.bearer_token == SECRET
    with pytest.raises(ConfigError, match="give no url"):
        RegistryConfig.from_env({USER_INFO_ENV: "a:b"})
    file.write_text('url = "http://r"\nnope = 1\n')
    with pytest.raises(ConfigError, match=r"unknown option.*nope"):
        RegistryConfig.from_file(file)
    file.write_text(f'url = "http://r"\nuser_info = "{SECRET}\n')
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        RegistryConfig.from_file(file)
    assert SECRET not in str(caught.value)


def test_a_pipe_url_takes_credentials_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(USER_INFO_ENV, f"carol:{SECRET}")
    monkeypatch.setenv(URL_ENV, "http://ignored:1")
    config = resolve_config("http://given:2")
    assert config is not None
    assert (config.url, config.user_info) == ("http://given:2", f"carol:{SECRET}")
    assert resolve_config(None) == RegistryConfig(url="http://ignored:1",
                                                  user_info=f"carol:{SECRET}")
    monkeypatch.delenv(URL_ENV)
    monkeypatch.delenv(USER_INFO_ENV)
    assert resolve_config(None) is None


def test_subject_names_follow_confluent_strategies() -> None:
    assert subject_name("topic", "orders", "shop.Order") == "orders-value"
    assert subject_name("topic", "orders", "shop.Order", is_key=True) == "orders-key"
    assert subject_name("record", None, "shop.Order") == "shop.Order"
    assert subject_name("topic_record", "orders", "shop.Order") == "orders-shop.Order"
    with pytest.raises(ConfigError, match="needs a named record"):
        subject_name("record", "orders", None)
    with pytest.raises(ConfigError, match="needs the topic"):
        subject_name("topic", None, "shop.Order")


def test_registry_mode_names_the_confluent_kafka_it_needs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import confluent_kafka

    from slither_stream.serde import RegistryClient

    monkeypatch.setattr(confluent_kafka, "__version__", "2.6.0")
    with pytest.raises(ConfigError, match=r"needs confluent-kafka >= 2\.10 \(installed: 2\.6\.0\)"):
        RegistryClient(RegistryConfig(url="http://r:1"))
