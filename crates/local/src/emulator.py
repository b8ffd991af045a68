# The moto server, with one repair. moto copies a table for every TransactWriteItems without
# holding a lock; a write to that table from another request thread during the copy makes the
# transaction fail with HTTP 500 ("dictionary changed size during iteration"), which DynamoDB
# itself never does. Under concurrent load that turned correct requests into 503s. So the DynamoDB
# requests on one table run one at a time; other tables, SQS long polls and the other services stay
# concurrent. Run as `python -c <this file> -H host -p port`.
import json
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_locks = {}
_locks_guard = threading.Lock()
_call_action = DynamoHandler.call_action


def _tables(body):
    """The tables a DynamoDB request names, sorted so locks are always taken in one order."""
    try:
        request = json.loads(body or "{}")
    except ValueError:
        return []
    if not isinstance(request, dict):
        return []
    names = set()
    if isinstance(request.get("TableName"), str):
        names.add(request["TableName"])
    if isinstance(request.get("RequestItems"), dict):
        names.update(request["RequestItems"])
    for item in request.get("TransactItems") or []:
        for action in item.values() if isinstance(item, dict) else []:
            if isinstance(action, dict) and isinstance(action.get("TableName"), str):
                names.add(action["TableName"])
    return sorted(names)


def _one_at_a_time_per_table(self):
    with _locks_guard:
        locks = [_locks.setdefault(name, threading.Lock()) for name in _tables(self.body)]
    for lock in locks:
        lock.acquire()
    try:
        return _call_action(self)
    finally:
        for lock in reversed(locks):
            lock.release()


DynamoHandler.call_action = _one_at_a_time_per_table
main()
