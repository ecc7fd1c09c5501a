import pykeepalived


def test_version_is_set() -> None:
    assert pykeepalived.__version__.count(".") == 2
