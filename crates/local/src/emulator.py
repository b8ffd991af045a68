# The moto server, with five repairs where it departs from AWS, and one where it repeats itself.
#
# 1. moto copies a table for every TransactWriteItems without holding a lock; a write to that table
#    from another request thread during the copy makes the transaction fail with HTTP 500
#    ("dictionary changed size during iteration"), which DynamoDB itself never does. Under
#    concurrent load that turned correct requests into 503s. So the DynamoDB requests on one table
#    run one at a time; other tables, SQS long polls and the other services stay concurrent.
# 2. moto answers a Query on the table (not an index) by sorting every item of the table and then
#    keeping one partition's: its cost grows with the table, where DynamoDB's grows with the
#    partition. On the benchmark's table of tens of thousands of items each progress read of a
#    fan-out (16 shard queries) held the table for seconds and most of the emulator's time went
#    there (profiled with py-spy). So such a Query sorts only its own partition.
# 3. moto's queues decide each message's visibility from the clock on every receive, through
#    datetime arithmetic per message; with a few hundred SES events queued that was most of the
#    emulator's time during a fan-out. The same milliseconds now come from time.time().
#
# 4. The server under moto (werkzeug's) closes the connection after every answer, so each SDK call
#    paid a new TCP connection and moto a new thread, where AWS keeps connections alive and the SDK
#    pools them. Both showed in profiles: connection set-up in the local stack's CPU per request,
#    thread start-up in the emulator's. Connections now stay open, except after a chunked request,
#    whose end werkzeug cannot find (every SDK call sends a Content-Length, which moto reads whole).
#    Without Nagle's algorithm: on a kept connection the answer's headers and body go out as two
#    writes, and Nagle held the body until the client's delayed ACK, 40 ms later.
# 5. moto backs up every table a TransactWriteItems names by deep-copying it whole, so a
#    transaction's cost grew with the table: a form post on the benchmark's table of tens of
#    thousands of items took a quarter of a second. The backup now holds only the items the
#    transaction names, which is all a cancelled transaction can have changed, and they are put
#    back as they were when it is cancelled.
# 6. moto repeats work on every request whose answer never changes while it runs: to route a
#    request it lists its own package directory twice (a listdir and some 150 stat calls each), it
#    lists the handler class's methods through `inspect`, and it parses an UpdateExpression string
#    twice. A fan-out sends the same few expressions thousands of times. Those answers are now
#    computed once (profiled with cProfile: an UpdateItem went from 2.8 to 2.0 ms of moto's time).
#    A parsed expression is safe to share: moto's validator works on its own deep copy of it, and
#    an expression that does not parse is not remembered, so it fails every time, as before.
#    And to check a message's retention period as it hands the message out, moto computed all of
#    the queue's attributes three times over, each counting every message in the queue: a receive
#    cost grew with the queue's square (py-spy: 8 % of the emulator late in a 10,000-person
#    fan-out). It now reads the one attribute.
#    And the server under it wrote an access log line per request, to a log nobody reads (the
#    local stack discards the emulator's output), and parsed each request's headers with the
#    email package's general MIME parser: together about a tenth of the DynamoDB process's time
#    during a fan-out (py-spy, samples holding the GIL). The log line is gone (errors are still
#    logged), and plain `Name: value` headers are read directly; anything else (a folded or
#    malformed line) still goes to the email parser, so it is answered as before.
#
# And one thing moto leaves out: SES's event publishing. A message sent through a configuration
# set whose name has an SQS queue `<name>-events` puts SES's *Send* event (with the message's tags)
# on that queue, as SES publishes it to the configuration set's SNS topic, and for a mail to SES's
# mailbox simulator (`success@simulator.amazonses.com`), which always delivers, its *Delivery*
# event too; the local stack hands those to the ses-events handler. And SES v2's account-level
# suppression list (Put, Get and DeleteSuppressedDestination), which erasure empties of the person's
# address: kept per account and region, answering NotFoundException for an address it lacks.
#
# And one thing for the benchmarks: each process counts the calls it answers, by operation, and
# answers `GET /_zgoda/calls` with the counts as JSON. `make bench` reads them around a run of form
# posts to report the AWS calls a post makes, counted where AWS would count them.
#
# Run as `python <this file> -H host -p port`: zgoda-local writes it to `.zgoda/emulator.py`, so a
# traceback names its lines, and sends its output to `.zgoda/emulator-<port>.log`.
import collections
import copy
import datetime
import email.parser
import functools
import http.client
import json
import re
import threading
import time
import types
import urllib.parse
import uuid

import moto
import moto.backends
import moto.core.responses
import moto.sesv2.urls
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.parsing.expressions import UpdateExpressionParser
from moto.dynamodb.responses import DynamoHandler
from moto.server import main
from moto.sesv2.responses import SESV2Response
from moto.sqs import models as sqs_models

# The repairs reach into moto's internals as this version has them; another version may have moved
# them, and a repair that silently stops applying shows only as wrong answers. So stop instead.
MOTO_VERSION = "5.2.5"
if moto.__version__ != MOTO_VERSION:
    raise SystemExit(f"emulator.py repairs moto {MOTO_VERSION}, but {moto.__version__} is installed (requirements/local.txt pins it)")
from moto.sqs.models import sqs_backends
from werkzeug import serving as werkzeug_serving
from werkzeug.serving import WSGIRequestHandler

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

# The partition a Query on this thread reads, while it runs (None otherwise).
_querying = threading.local()
_table_query = Table.query
_table_all_items = Table.all_items


def _all_items_of_the_queried_partition(self):
    hash_key = getattr(_querying, "hash_key", None)
    if hash_key is None:
        return _table_all_items(self)
    partition = self.items.get(hash_key)
    if partition is None:
        return []
    items = list(partition.values()) if self.range_key_attr else [partition]
    # The order moto's own all_items gives, within the one partition.
    return sorted(items, key=lambda x: (x.hash_key, x.range_key) if x.range_key else x.hash_key)


def _query_one_partition(self, hash_key, *args, **kwargs):
    index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
    if index_name or hash_key is None:
        return _table_query(self, hash_key, *args, **kwargs)
    _querying.hash_key = hash_key
    try:
        return _table_query(self, hash_key, *args, **kwargs)
    finally:
        _querying.hash_key = None


Table.all_items = _all_items_of_the_queried_partition
Table.query = _query_one_partition

# Set while a transaction runs whose items are backed up here: moto's whole-table copy is skipped.
_items_backed_up = threading.local()
_transact_write_items = DynamoDBBackend.transact_write_items


def _deepcopy_unless_backed_up(value, memo=None):
    if isinstance(value, Table) and getattr(_items_backed_up, "on", False):
        return value
    return copy.deepcopy(value, memo)


dynamodb_models.copy = types.SimpleNamespace(deepcopy=_deepcopy_unless_backed_up)


def _named_item(backend, transact_item):
    """The table, key and a copy of the current item (None when absent) one action names."""
    ((_, action),) = transact_item.items()
    table = backend.tables[action["TableName"]]
    key = action.get("Key") or action["Item"]
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))


def _put_back(table, hash_value, range_value, item):
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
    elif item is None:
        table.items[hash_value].pop(range_value, None)
    else:
        table.items[hash_value][range_value] = item


def _transact_backing_up_its_items(self, transact_items):
    try:
        named = [_named_item(self, item) for item in transact_items]
    except Exception:
        # Malformed (no such table, no key, two actions in one): moto's own path and error.
        return _transact_write_items(self, transact_items)
    _items_backed_up.on = True
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table, hash_value, range_value, item in reversed(named):
            _put_back(table, hash_value, range_value, item)
        raise
    finally:
        _items_backed_up.on = False


DynamoDBBackend.transact_write_items = _transact_backing_up_its_items

_send_email = SESV2Response.send_email


def _send_email_publishing_the_send_event(self):
    answer = _send_email(self)
    request = json.loads(self.body)
    configuration_set = request.get("ConfigurationSetName")
    sqs = sqs_backends[self.current_account][self.region]
    queue = f"{configuration_set}-events"
    if configuration_set and queue in sqs.queues:
        tags = {t["Name"]: [t["Value"]] for t in request.get("EmailTags") or []}
        tags["ses:configuration-set"] = [configuration_set]
        destination = request.get("Destination") or {}
        event = {
            "eventType": "Send",
            "mail": {
                "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "source": request.get("FromEmailAddress"),
                "messageId": json.loads(answer)["MessageId"],
                "destination": destination.get("ToAddresses", []) + destination.get("CcAddresses", []) + destination.get("BccAddresses", []),
                "tags": tags,
            },
            "send": {},
        }
        # Straight onto the queue: moto's send_message computes every queue attribute first,
        # scanning all queued messages three times, so publishing slowed as a backlog grew.
        events = [event]
        # SES's mailbox simulator always delivers, and SES then reports a *Delivery* event.
        delivered = [a for a in event["mail"]["destination"] if a.lower().endswith("@simulator.amazonses.com") and a.lower().startswith("success")]
        if delivered:
            events.append({"eventType": "Delivery", "mail": event["mail"], "delivery": {"recipients": delivered}})
        for e in events:
            message = sqs_models.Message(str(uuid.uuid4()), json.dumps(e))
            message.mark_sent(delay_seconds=0)
            sqs.queues[queue].add_message(message)
    return answer


SESV2Response.send_email = _send_email_publishing_the_send_event

# The suppression list: (account, region, address in lower case) -> reason.
_suppressed = {}
_suppressed_lock = threading.Lock()


def _suppressed_key(self, address):
    # An address from the path comes percent-encoded (`@` as `%40`).
    return (self.current_account, self.region, urllib.parse.unquote(address).lower())


def _not_found(address):
    body = json.dumps({"__type": "NotFoundException", "message": "The address is not on the suppression list."})
    # moto takes an answer's status from its headers, not from the tuple.
    return 404, {"status": 404, "x-amzn-ErrorType": "NotFoundException", "Content-Type": "application/json"}, body


def _put_suppressed_destination(self):
    request = json.loads(self.body)
    with _suppressed_lock:
        _suppressed[_suppressed_key(self, request["EmailAddress"])] = request.get("Reason", "BOUNCE")
    return 200, {"Content-Type": "application/json"}, "{}"


def _get_suppressed_destination(self):
    address = self.uri_match["EmailAddress"]
    with _suppressed_lock:
        reason = _suppressed.get(_suppressed_key(self, address))
    if reason is None:
        return _not_found(address)
    destination = {"EmailAddress": address, "Reason": reason, "LastUpdateTime": time.time()}
    return 200, {"Content-Type": "application/json"}, json.dumps({"SuppressedDestination": destination})


def _delete_suppressed_destination(self):
    address = self.uri_match["EmailAddress"]
    with _suppressed_lock:
        found = _suppressed.pop(_suppressed_key(self, address), None)
    return _not_found(address) if found is None else (200, {"Content-Type": "application/json"}, "{}")


# moto routes no URL of the list: its catch-all `/v2/.*` does not reach past one more slash.
moto.sesv2.urls.url_paths["{0}/v2/email/suppression/addresses$"] = SESV2Response.dispatch
moto.sesv2.urls.url_paths["{0}/v2/email/suppression/addresses/(?P<EmailAddress>[^/]+)$"] = SESV2Response.dispatch
SESV2Response.put_suppressed_destination = _put_suppressed_destination
SESV2Response.get_suppressed_destination = _get_suppressed_destination
SESV2Response.delete_suppressed_destination = _delete_suppressed_destination

_unix_time_millis = sqs_models.unix_time_millis


def _unix_time_millis_from_the_clock(dt=None):
    return time.time() * 1000.0 if dt is None else _unix_time_millis(dt)


sqs_models.unix_time_millis = _unix_time_millis_from_the_clock

_send_header = WSGIRequestHandler.send_header


def _send_header_keeping_the_connection(self, keyword, value):
    # Only an answer to a well-formed HTTP/1.1 request keeps its connection: one refused before
    # its headers were read (a bad request line) closes it, as werkzeug always did.
    headers = getattr(self, "headers", None)
    keep = (
        headers is not None
        and getattr(self, "request_version", None) == "HTTP/1.1"
        and "chunked" not in (headers.get("Transfer-Encoding") or "").lower()
    )
    if keep and keyword.lower() == "connection" and value.lower() == "close":
        return
    _send_header(self, keyword, value)


WSGIRequestHandler.send_header = _send_header_keeping_the_connection
WSGIRequestHandler.disable_nagle_algorithm = True


class _NothingLeftToDrain:
    """werkzeug, sure the connection closes, reads the socket after each answer until it stays
    quiet, which on a kept connection would swallow (or wait for) the next request."""

    def register(self, *args):
        pass

    def select(self, timeout=None):
        return []

    def close(self):
        pass


werkzeug_serving.selectors = types.SimpleNamespace(DefaultSelector=_NothingLeftToDrain, EVENT_READ=1)


def _retained(self, queue_name, message):
    """Whether `message` is inside its queue's retention period (moto's own test, one attribute read)."""
    retention_period = self.get_queue(queue_name).message_retention_period
    return retention_period + message.sent_timestamp / 1000 > time.time()


sqs_models.SQSBackend.is_message_valid_based_on_retention_period = _retained

WSGIRequestHandler.log_request = lambda self, code="-", size="-": None

_calls = collections.Counter()
_calls_guard = threading.Lock()
_services = {"DynamoDB_20120810": "dynamodb", "AmazonSQS": "sqs", "secretsmanager": "secretsmanager"}
_run_wsgi = WSGIRequestHandler.run_wsgi


def _operation(handler):
    """The call a request is, as IAM names its action: `dynamodb:GetItem`, `sesv2:POST /v2/email/outbound-emails`."""
    target = handler.headers.get("X-Amz-Target")
    if target and "." in target:
        service, action = target.split(".", 1)
        return f"{_services.get(service, service)}:{action}"
    return f"sesv2:{handler.command} {handler.path.split('?', 1)[0]}"


def _run_wsgi_counting(self):
    if self.path == "/_zgoda/calls":
        with _calls_guard:
            body = json.dumps(dict(_calls)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return
    with _calls_guard:
        _calls[_operation(self)] += 1
    return _run_wsgi(self)


WSGIRequestHandler.run_wsgi = _run_wsgi_counting

# A one-line header by the feed parser's test (email.feedparser.headerRE, without its "From " and
# continuation cases), ending at its line break (the email parser also breaks lines at a bare CR).
_plain_header = re.compile(r"[\041-\071\073-\176]+:[^\r\n]*\r?\n")


def _parse_headers_directly(fp, _class=http.client.HTTPMessage):
    """http.client.parse_headers, with its limits and message class, for plain header lines."""
    lines = []
    while True:
        line = fp.readline(http.client._MAXLINE + 1)
        if len(line) > http.client._MAXLINE:
            raise http.client.LineTooLong("header line")
        lines.append(line.decode("iso-8859-1"))
        if len(lines) > http.client._MAXHEADERS:
            raise http.client.HTTPException(f"got more than {http.client._MAXHEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            break
    fields = lines[:-1]
    if not all(_plain_header.fullmatch(field) for field in fields):
        return email.parser.Parser(_class=_class).parsestr("".join(lines))
    message = _class()
    for field in fields:
        # What the email parser stores for a one-line header (policy compat32's header_source_parse).
        name, value = field.split(":", 1)
        message.set_raw(name, value.lstrip(" \t").rstrip("\r\n"))
    message.set_payload("")
    return message


http.client.parse_headers = _parse_headers_directly

_moto_modules = tuple(moto.backends.list_of_moto_modules())
moto.backends.list_of_moto_modules = lambda: _moto_modules
moto.core.responses.method_names_from_class = functools.cache(moto.core.responses.method_names_from_class)
_parse_update_expression = UpdateExpressionParser.make.__func__
_update_expressions = functools.lru_cache(maxsize=1024)(lambda text: _parse_update_expression(UpdateExpressionParser, text))
UpdateExpressionParser.make = classmethod(
    lambda cls, text: _update_expressions(text) if cls is UpdateExpressionParser else _parse_update_expression(cls, text)
)

main()
