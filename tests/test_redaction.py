from backend.sightline.redaction import redact


def test_userinfo_passwords_are_removed():
    text = "rtsp://admin:s3cr%40t@10.0.0.5:554/stream: Server returned 401 Unauthorized"
    assert redact(text) == "rtsp://admin:***@10.0.0.5:554/stream: Server returned 401 Unauthorized"


def test_query_secrets_are_removed():
    assert redact("http://cam/snap?user=a&password=hunter2&x=1") == "http://cam/snap?user=a&password=***&x=1"


def test_text_without_secrets_is_unchanged():
    assert redact("rtsp://10.0.0.5/stream timed out") == "rtsp://10.0.0.5/stream timed out"
