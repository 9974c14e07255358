"""Tasks go through the configured broker (ORM or Redis) and their results are kept."""

from __future__ import annotations

from multiprocessing import Event, Queue, Value

import pytest
from django_q.brokers import get_broker
from django_q.models import Success
from django_q.monitor import monitor
from django_q.pusher import pusher
from django_q.tasks import async_task, result
from django_q.worker import worker


@pytest.mark.django_db(transaction=True)
def test_a_task_runs_through_the_broker_and_its_result_is_kept(settings):
    broker = get_broker()
    broker.list_key = "linx-test-queue"
    broker.delete_queue()
    task_id = async_task("math.hypot", 3, 4, broker=broker)
    assert broker.queue_size() == 1

    tasks, results, event = Queue(), Queue(), Event()
    event.set()
    pusher(tasks, event, broker=broker)
    tasks.put("STOP")
    worker(tasks, results, Value("f", -1))
    results.put("STOP")
    monitor(results, broker)

    assert result(task_id) == 5.0
    assert Success.objects.filter(id=task_id).exists()  # kept for the admin's history
    broker.delete_queue()


def test_the_broker_follows_redis_url(settings, db):
    broker = get_broker()
    expected = "Redis" if settings.REDIS_URL else "ORM"
    assert type(broker).__name__ == expected
