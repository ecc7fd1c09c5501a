"""The top-level SSL block's certificate goes to every SSL_GET checker (keepalived builds one
client context from it); HTTP_GET checkers do not get it."""

from __future__ import annotations

from pykeepalived.config import parse_config_text
from pykeepalived.lvs.model import HttpCheck

CONF = """
SSL {
    certificate /etc/keepalived/client.pem
    key /etc/keepalived/client.key
    password secret
}
virtual_server 192.0.2.100 443 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 192.0.2.11 443 {
        SSL_GET {
            url {
                path /
            }
        }
        HTTP_GET {
            url {
                path /
            }
        }
    }
}
"""


def test_ssl_get_checkers_carry_the_client_certificate() -> None:
    result = parse_config_text(CONF, check_files=False)
    assert result.config is not None, result.diagnostics
    (vs,) = result.config.lvs.virtual_servers
    ssl_get, http_get = vs.real_servers[0].checkers
    assert isinstance(ssl_get, HttpCheck) and isinstance(http_get, HttpCheck)
    assert ssl_get.client_cert is not None
    assert ssl_get.client_cert.certificate == "/etc/keepalived/client.pem"
    assert ssl_get.client_cert.key == "/etc/keepalived/client.key"
    assert ssl_get.client_cert.password == "secret"
    assert http_get.client_cert is None
