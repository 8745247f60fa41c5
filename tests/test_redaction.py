from backend.sightline.redaction import redact


def test_userinfo_passwords_are_removed():
    text = "rtsp://admin:s3cr%40t@10.0.0.5:554/stream: Server returned 401 Unauthorized"
    assert redact(text) == "rtsp://admin:***@10.0.0.5:554/stream: Server returned 401 Unauthorized"


def test_query_secrets_are_removed():
    assert redact("http://cam/snap?user=a&password=hunter2&x=1") == "http://cam/snap?user=a&password=***&x=1"


def test_text_without_secrets_is_unchanged():
    assert redact("rtsp://10.0.0.5/stream timed out") == "rtsp://10.0.0.5/stream timed out"


def test_a_raw_password_containing_at_signs_is_removed_whole():
    assert redact("rtsp://admin:p@ss@w0rd@10.0.0.5:554/s failed") == "rtsp://admin:***@10.0.0.5:554/s failed"
    assert redact("a rtsp://u:x@y@h/ and b rtsp://v:z@k/") == "a rtsp://u:***@h/ and b rtsp://v:***@k/"


def test_celery_workers_log_through_the_redaction_filter(tmp_path):
    """Celery's own logging setup (what ``celery worker`` runs) must leave Django's filter in place."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = ("from backend.sightline.celery import app; import logging; app.log.setup(loglevel='INFO'); "
              "logging.getLogger('backend.recorder').warning('cannot open rtsp://cam:canary@PW@10.0.0.9/live')")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backend.sightline.settings_test",
           "SIGHTLINE_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {script}"], env=env,
                            cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "rtsp://cam:***@10.0.0.9/live" in output and "canary" not in output
