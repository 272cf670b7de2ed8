from bot.http_guard import ReplayCache


def test_a_signature_is_refused_again_until_it_expires():
    now = [1000.0]
    cache = ReplayCache(ttl_seconds=600, clock=lambda: now[0])
    assert cache.seen_before("v0=a") is False
    assert cache.seen_before("v0=a") is True
    assert cache.seen_before("v0=b") is False
    now[0] += 601
    assert cache.seen_before("v0=a") is False  # Slack would refuse its timestamp by now anyway
