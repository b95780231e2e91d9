"""The backend's API through Datadog's official clients, unchanged: datadogpy (`api` and the `dog` CLI)
and the Python `datadog-api-client`. Versions are pinned in crates/ddlab-stack/python/clients.txt.

Run by `cargo xtask compat`, which starts a backend and sets DDLAB_URL, DD_API_KEY and DD_APP_KEY.
Every test writes through one client and reads back through the API, so a field the backend drops or
misnames fails here.
"""

import json
import os
import struct
import subprocess
import sys
import time
import unittest
import urllib.request
import uuid

URL = os.environ["DDLAB_URL"]
API_KEY = os.environ["DD_API_KEY"]
APP_KEY = os.environ["DD_APP_KEY"]


def unique(prefix):
    return "%s.%s" % (prefix, uuid.uuid4().hex[:8])


def datadogpy():
    import datadog

    datadog.initialize(api_key=API_KEY, app_key=APP_KEY, api_host=URL)
    return datadog.api


def api_client():
    from datadog_api_client import ApiClient, Configuration

    configuration = Configuration(host=URL)
    configuration.api_key["apiKeyAuth"] = API_KEY
    configuration.api_key["appKeyAuth"] = APP_KEY
    return ApiClient(configuration)


def dog(*args):
    """Runs the `dog` CLI of the same virtualenv; fails the test with its output if it fails."""
    command = [
        os.path.join(os.path.dirname(sys.executable), "dog"),
        "--api-key", API_KEY, "--application-key", APP_KEY, "--api_host", URL,
    ] + list(args)
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (command[4:], result.returncode, result.stdout, result.stderr))
    return result.stdout


def lab_get(path, keys=True):
    """A GET on the backend with urllib (no client), with or without the keys; the response."""
    request = urllib.request.Request(URL + path)
    if keys:
        request.add_header("DD-API-KEY", API_KEY)
        request.add_header("DD-APPLICATION-KEY", APP_KEY)
    return urllib.request.urlopen(request, timeout=30)


def png_size(png):
    """Width and height from a PNG's IHDR chunk, after checking the signature."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError("not a PNG: %r" % png[:16])
    return struct.unpack(">II", png[16:24])


def query_values(api, query, seconds=600):
    now = int(time.time())
    answer = api.Metric.query(start=now - seconds, end=now + 60, query=query)
    if answer.get("status") != "ok":
        raise AssertionError("query %r answered %r" % (query, answer))
    return [point[1] for series in answer["series"] for point in series["pointlist"] if point[1] is not None]


class Datadogpy(unittest.TestCase):
    def setUp(self):
        self.api = datadogpy()

    def test_metric_send_and_query(self):
        metric = unique("compat.dd")
        now = time.time()
        answer = self.api.Metric.send(
            metrics=[
                {"metric": metric, "points": [(now, 512)], "host": "compat-host", "tags": ["env:compat"]},
                {"metric": metric, "points": 7, "host": "other-host", "tags": ["env:other"], "type": "gauge"},
            ]
        )
        self.assertEqual(answer, {"status": "ok"})
        self.assertEqual(query_values(self.api, "avg:%s{env:compat}" % metric), [512.0])
        self.assertEqual(sorted(query_values(self.api, "max:%s{*} by {host}" % metric)), [7.0, 512.0])
        listed = self.api.Metric.list(int(now) - 60)
        self.assertIn(metric, listed["metrics"])

    def test_query_errors_name_the_position(self):
        now = int(time.time())
        answer = self.api.Metric.query(start=now - 60, end=now, query="anomalies(avg:m{*}, basic, 2)")
        self.assertIn("errors", answer)
        self.assertTrue(any("basic" in e or "position" in e or "^" in e for e in answer["errors"]), answer)

    def test_event_create_get_and_stream(self):
        title = unique("Deploy")
        created = self.api.Event.create(
            title=title, text="rolled out @ops@example.com", tags=["env:compat"], alert_type="success",
            host="compat-host", source_type_name="my_apps",
        )
        self.assertEqual(created["status"], "ok")
        event_id = created["event"]["id"]
        got = self.api.Event.get(event_id)
        self.assertEqual(got["event"]["title"], title)
        self.assertEqual(got["event"]["alert_type"], "success")
        now = int(time.time())
        stream = self.api.Event.query(start=now - 300, end=now + 60, tags=["env:compat"], sources="my_apps")
        self.assertIn(title, [e["title"] for e in stream["events"]])

    def test_service_check(self):
        check = unique("compat.ok")
        answer = self.api.ServiceCheck.check(check=check, host_name="compat-host", status=1, message="slow",
                                             tags=["env:compat"])
        self.assertEqual(answer, {"status": "ok"})

    def test_host_tags_hosts_and_search(self):
        host = unique("tagged-host")
        self.api.Metric.send(metric="compat.alive", points=1, host=host)
        created = self.api.Tag.create(host, tags=["team:se", "role:db"])
        self.assertEqual(created["host"], host)
        self.assertEqual(sorted(self.api.Tag.get(host)["tags"]), ["role:db", "team:se"])
        self.api.Tag.update(host, tags=["team:sales"])
        self.assertEqual(self.api.Tag.get(host)["tags"], ["team:sales"])
        self.assertIn(host, self.api.Tag.get_all()["tags"]["team:sales"])
        self.api.Tag.delete(host)
        self.assertEqual(self.api.Tag.get(host)["tags"], [])
        hosts = self.api.Hosts.search(filter=host)
        self.assertEqual([h["name"] for h in hosts["host_list"]], [host])
        self.assertGreaterEqual(self.api.Hosts.totals()["total_active"], 1)
        found = self.api.Infrastructure.search(q="hosts:" + host)
        self.assertEqual(found["results"]["hosts"], [host])

    def test_graph_snapshot_png_status_and_event(self):
        """datadogpy `api.Graph.create` and `api.Graph.status`, then the exercise's EX-14: an event that
        carries the snapshot URL and an @handle notifies the handle."""
        metric = unique("compat.snap")
        now = int(time.time())
        self.api.Metric.send(metric=metric, points=[(now - 120, 5), (now - 60, 9), (now, 7)], host="snap-host")
        query = "avg:%s{*}" % metric
        snap = self.api.Graph.create(metric_query=query, start=now - 3600, end=now + 60, title="compat")
        self.assertNotIn("errors", snap)
        self.assertEqual(snap["metric_query"], query)
        self.assertEqual(json.loads(snap["graph_def"]), {"requests": [{"q": query}]})
        url = snap["snapshot_url"]
        self.assertTrue(url.startswith(URL + "/snapshot/view/"), url)
        self.assertEqual(self.api.Graph.status(url), {"status_code": 200})
        # The PNG itself needs no keys.
        with urllib.request.urlopen(url, timeout=30) as response:
            self.assertEqual(response.headers["Content-Type"], "image/png")
            self.assertEqual(png_size(response.read()), (800, 400))

        graph_def = json.dumps({"viz": "timeseries", "requests": [{"q": query, "type": "bars"}]})
        drawn = self.api.Graph.create(graph_def=graph_def, start=now - 600, end=now + 60, width=500, height=250)
        self.assertEqual(sorted(drawn), ["graph_def", "snapshot_url"])
        self.assertEqual(drawn["graph_def"], graph_def)
        with urllib.request.urlopen(drawn["snapshot_url"], timeout=30) as response:
            self.assertEqual(png_size(response.read()), (500, 250))
        bad = self.api.Graph.create(graph_def=json.dumps({"requests": [{"q": 7}]}), start=now - 600, end=now)
        self.assertEqual(bad["errors"], ["Invalid graph_def: requests[0].q must be a query string"])

        handle = "%s@example.com" % unique("snap")
        self.api.Event.create(title="Snapshot of %s" % metric, text="%s @%s" % (url, handle))
        with lab_get("/ddlab/notifications?limit=50") as response:
            sent = json.load(response)["notifications"]
        self.assertIn(handle, [n["handle"] for n in sent if url in n["body"]])

    def test_metric_metadata(self):
        metric = unique("compat.meta")
        self.api.Metric.send(metric=metric, points=3, type="count", interval=10)
        self.api.Metadata.update(metric_name=metric, description="things done", unit="operation", type="count")
        meta = self.api.Metadata.get(metric_name=metric)
        self.assertEqual(meta["description"], "things done")
        self.assertEqual(meta["unit"], "operation")
        self.assertEqual(meta["type"], "count")


class DogCli(unittest.TestCase):
    def test_metric_event_and_service_check(self):
        metric = unique("compat.dog")
        dog("metric", "post", metric, "42.5", "--host", "dog-host", "--tags", "env:dog,team:se")
        self.assertEqual(query_values(datadogpy(), "avg:%s{team:se}" % metric), [42.5])
        title = unique("dog event")
        dog("event", "post", title, "posted by dog", "--tags", "env:dog")
        now = int(time.time())
        stream = datadogpy().Event.query(start=now - 300, end=now + 60, tags=["env:dog"])
        self.assertIn(title, [e["title"] for e in stream["events"]])
        dog("service_check", "check", unique("dog.check"), "dog-host", "0", "--tags", "env:dog")

    def test_search_and_tags(self):
        host = unique("dog-tagged")
        datadogpy().Metric.send(metric="compat.alive", points=1, host=host)
        dog("tag", "add", host, "team:dog")
        self.assertIn("team:dog", dog("tag", "show", host))
        self.assertIn(host, dog("search", "query", "hosts:" + host))


class ApiClient(unittest.TestCase):
    def test_validate(self):
        from datadog_api_client.v1.api.authentication_api import AuthenticationApi

        with api_client() as client:
            self.assertTrue(AuthenticationApi(client).validate().valid)

    def test_v2_submit_v1_and_v2_query(self):
        from datadog_api_client.v1.api.metrics_api import MetricsApi as MetricsV1
        from datadog_api_client.v2.api.metrics_api import MetricsApi
        from datadog_api_client.v2.model.formula_limit import FormulaLimit
        from datadog_api_client.v2.model.metric_intake_type import MetricIntakeType
        from datadog_api_client.v2.model.metric_payload import MetricPayload
        from datadog_api_client.v2.model.metric_point import MetricPoint
        from datadog_api_client.v2.model.metric_resource import MetricResource
        from datadog_api_client.v2.model.metric_series import MetricSeries
        from datadog_api_client.v2.model.metrics_data_source import MetricsDataSource
        from datadog_api_client.v2.model.metrics_timeseries_query import MetricsTimeseriesQuery
        from datadog_api_client.v2.model.query_formula import QueryFormula
        from datadog_api_client.v2.model.query_sort_order import QuerySortOrder
        from datadog_api_client.v2.model.timeseries_formula_query_request import TimeseriesFormulaQueryRequest
        from datadog_api_client.v2.model.timeseries_formula_request import TimeseriesFormulaRequest
        from datadog_api_client.v2.model.timeseries_formula_request_attributes import (
            TimeseriesFormulaRequestAttributes,
        )
        from datadog_api_client.v2.model.timeseries_formula_request_queries import TimeseriesFormulaRequestQueries
        from datadog_api_client.v2.model.timeseries_formula_request_type import TimeseriesFormulaRequestType

        metric = unique("compat.v2")
        now = int(time.time())
        body = MetricPayload(series=[
            MetricSeries(
                metric=metric, type=MetricIntakeType.GAUGE, points=[MetricPoint(timestamp=now, value=3.5)],
                resources=[MetricResource(name="client-host", type="host")], tags=["env:client"],
            ),
        ])
        with api_client() as client:
            answer = MetricsApi(client).submit_metrics(body=body)
            self.assertEqual(list(answer.errors), [])
            v1 = MetricsV1(client).query_metrics(_from=now - 600, to=now + 60, query="avg:%s{env:client}" % metric)
            self.assertEqual(v1.status, "ok")
            # A pointlist entry is a `Point` model wrapping [ms, value].
            self.assertEqual([p.value[1] for p in v1.series[0].pointlist], [3.5])
            self.assertEqual(v1.series[0].scope, "env:client")
            request = TimeseriesFormulaQueryRequest(data=TimeseriesFormulaRequest(
                type=TimeseriesFormulaRequestType.TIMESERIES_REQUEST,
                attributes=TimeseriesFormulaRequestAttributes(
                    _from=(now - 600) * 1000, to=(now + 60) * 1000, interval=60000,
                    queries=TimeseriesFormulaRequestQueries([
                        MetricsTimeseriesQuery(data_source=MetricsDataSource.METRICS, name="a",
                                               query="avg:%s{*} by {host}" % metric),
                    ]),
                    formulas=[QueryFormula(formula="a * 2", limit=FormulaLimit(count=5, order=QuerySortOrder.DESC))],
                ),
            ))
            v2 = MetricsApi(client).query_timeseries_data(body=request)
            attributes = v2.data.attributes
            # `series` and `values` are list models: their items are in `.value`.
            self.assertEqual(list(attributes.series.value[0].group_tags.value), ["host:client-host"])
            self.assertEqual([v for v in attributes.values.value[0].value if v is not None], [7.0])
            active = MetricsV1(client).list_active_metrics(_from=now - 60)
            self.assertIn(metric, active.metrics)
            meta = MetricsV1(client).get_metric_metadata(metric_name=metric)
            self.assertEqual(meta.type, "gauge")

    def test_events_service_checks_hosts_and_tags(self):
        from datadog_api_client.v1.api.events_api import EventsApi
        from datadog_api_client.v1.api.hosts_api import HostsApi
        from datadog_api_client.v1.api.service_checks_api import ServiceChecksApi
        from datadog_api_client.v1.api.tags_api import TagsApi
        from datadog_api_client.v1.model.event_create_request import EventCreateRequest
        from datadog_api_client.v1.model.host_tags import HostTags
        from datadog_api_client.v1.model.service_check import ServiceCheck
        from datadog_api_client.v1.model.service_check_status import ServiceCheckStatus
        from datadog_api_client.v1.model.service_checks import ServiceChecks

        title = unique("client event")
        host = unique("client-host")
        with api_client() as client:
            created = EventsApi(client).create_event(body=EventCreateRequest(
                title=title, text="from datadog-api-client", tags=["env:client"], host=host))
            self.assertEqual(created.status, "ok")
            got = EventsApi(client).get_event(event_id=created.event.id)
            self.assertEqual(got.event.title, title)
            now = int(time.time())
            listed = EventsApi(client).list_events(start=now - 300, end=now + 60, tags="env:client")
            self.assertIn(title, [e.title for e in listed.events])
            ServiceChecksApi(client).submit_service_check(body=ServiceChecks([ServiceCheck(
                check="client.ok", host_name=host, status=ServiceCheckStatus.OK, tags=["env:client"])]))
            TagsApi(client).create_host_tags(host_name=host, body=HostTags(host=host, tags=["team:api"]))
            self.assertEqual(list(TagsApi(client).get_host_tags(host_name=host).tags), ["team:api"])
            self.assertIn(host, TagsApi(client).list_host_tags().tags["team:api"])
            hosts = HostsApi(client).list_hosts(filter=host)
            self.assertEqual([h.name for h in hosts.host_list], [host])
            self.assertGreaterEqual(HostsApi(client).get_host_totals().total_active, 1)

    def test_graph_snapshot(self):
        from datadog_api_client.v1.api.snapshots_api import SnapshotsApi

        metric = unique("compat.snapshots")
        now = int(time.time())
        datadogpy().Metric.send(metric=metric, points=[(now - 60, 1), (now, 2)], host="snap-host")
        with api_client() as client:
            snap = SnapshotsApi(client).get_graph_snapshot(
                metric_query="avg:%s{*} by {host}" % metric, start=now - 3600, end=now + 60,
                title="System load", height=400, width=600)
            self.assertEqual(snap.metric_query, "avg:%s{*} by {host}" % metric)
            self.assertTrue(snap.snapshot_url.startswith(URL + "/snapshot/view/"), snap.snapshot_url)
        with urllib.request.urlopen(snap.snapshot_url, timeout=30) as response:
            self.assertEqual(png_size(response.read()), (600, 400))

    def test_bad_keys_are_refused_as_datadog_refuses_them(self):
        from datadog_api_client import ApiClient as Client, Configuration
        from datadog_api_client.exceptions import ForbiddenException
        from datadog_api_client.v1.api.hosts_api import HostsApi

        configuration = Configuration(host=URL)
        configuration.api_key["apiKeyAuth"] = API_KEY
        configuration.api_key["appKeyAuth"] = "0" * 40
        with Client(configuration) as client:
            with self.assertRaises(ForbiddenException) as raised:
                HostsApi(client).list_hosts()
            body = raised.exception.body
            self.assertEqual(json.loads(body) if isinstance(body, (str, bytes)) else body, {"errors": ["Forbidden"]})


if __name__ == "__main__":
    unittest.main(verbosity=2)
