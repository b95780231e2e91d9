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


ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))


def solution_payload(name, host="compat-host"):
    """A payload of the reference solution, with $HOST filled as the solution's apply.py fills it."""
    with open(os.path.join(ROOT, "fixtures", "solution", "api", name)) as handle:
        return json.loads(handle.read().replace("$HOST", host))


class Dashboards(unittest.TestCase):
    """Dashboards, legacy timeboards and screenboards, share links and lists: datadogpy 0.56.0 and
    datadog-api-client 2.62.0."""

    def setUp(self):
        self.api = datadogpy()

    def test_datadogpy_dashboard_crud_with_the_reference_payloads(self):
        for name in ("timeboard.json", "apm-infra-dashboard.json"):
            sent = solution_payload(name)
            created = self.api.Dashboard.create(**sent)
            board_id = created["id"]
            self.assertRegex(board_id, r"^[a-z0-9]{3}-[a-z0-9]{3}-[a-z0-9]{3}$")
            self.assertTrue(created["url"].startswith("/dashboard/%s/" % board_id))
            self.assertEqual(created["is_read_only"], False)
            self.assertEqual([w["definition"] for w in created["widgets"]], [w["definition"] for w in sent["widgets"]])
            self.assertTrue(all(isinstance(w["id"], int) for w in created["widgets"]))
            self.assertEqual(self.api.Dashboard.get(board_id), created)
            self.assertIn(board_id, [d["id"] for d in self.api.Dashboard.get_all()["dashboards"]])
        sent["title"] = unique("renamed")
        sent["widgets"] = sent["widgets"][:2]
        updated = self.api.Dashboard.update(board_id, **sent)
        self.assertEqual((updated["title"], len(updated["widgets"])), (sent["title"], 2))
        self.assertEqual(updated["created_at"], created["created_at"])
        self.assertEqual(self.api.Dashboard.delete(board_id), {"deleted_dashboard_id": board_id})
        # datadogpy raises nothing on a 404 with an errors body: it returns it.
        self.assertEqual(self.api.Dashboard.get(board_id), {"errors": ["Dashboard with ID %s not found" % board_id]})

    def test_datadogpy_refuses_a_bad_widget_query_with_datadogs_message(self):
        sent = solution_payload("timeboard.json")
        sent["widgets"][1]["definition"]["requests"][0]["q"] = "anomalies(avg:mysql.net.connections{*}, basic, 2)"
        answer = self.api.Dashboard.create(**sent)
        self.assertEqual(len(answer["errors"]), 1)
        self.assertTrue(
            answer["errors"][0].startswith("Invalid query in widget at position 1. Error: unable to parse"),
            answer,
        )

    def test_datadogpy_timeboard(self):
        graphs = [{"title": "my_metric", "definition": {"viz": "timeseries", "requests": [
            {"q": "avg:my_metric{host:compat-host}", "type": "line"}], "events": []}}]
        created = self.api.Timeboard.create(title=unique("timeboard"), description="d", graphs=graphs,
                                            template_variables=[], read_only=False)
        dash = created["dash"]
        self.assertIsInstance(dash["id"], int)
        self.assertEqual(dash["graphs"], graphs)
        self.assertEqual(created["resource"], "/api/v1/dash/%d" % dash["id"])
        self.assertEqual(self.api.Timeboard.get(dash["id"])["dash"]["new_id"], dash["new_id"])
        self.assertIn(str(dash["id"]), [d["id"] for d in self.api.Timeboard.get_all()["dashes"]])
        v1 = self.api.Dashboard.get(dash["new_id"])
        self.assertEqual(v1["widgets"][0]["definition"]["requests"][0]["display_type"], "line")
        updated = self.api.Timeboard.update(dash["id"], title="renamed", graphs=graphs + graphs)
        self.assertEqual(len(updated["dash"]["graphs"]), 2)
        self.api.Timeboard.delete(dash["id"])
        self.assertEqual(self.api.Dashboard.get(dash["id"]), {"errors": ["Dashboard with ID %d not found" % dash["id"]]})

    def test_datadogpy_screenboard_share_and_revoke(self):
        widgets = [{"type": "timeseries", "x": 1, "y": 1, "width": 40, "height": 15,
                    "tile_def": {"viz": "timeseries", "requests": [{"q": "avg:my_metric{*}"}]}}]
        created = self.api.Screenboard.create(board_title=unique("screen"), width=1024, height=768, widgets=widgets)
        board_id = created["id"]
        self.assertEqual(created["widgets"], widgets)
        self.assertEqual(self.api.Screenboard.get(board_id)["new_id"], created["new_id"])
        self.assertIn(board_id, [b["id"] for b in self.api.Screenboard.get_all()["screenboards"]])
        shared = self.api.Screenboard.share(board_id)
        self.assertEqual(shared["board_id"], board_id)
        self.assertRegex(shared["public_url"], r"^%s/sb/[a-z0-9]{16}-[0-9a-f]{32}$" % URL)
        token = shared["public_url"].rsplit("/", 1)[1]
        with api_client() as client:
            from datadog_api_client.v1.api.dashboards_api import DashboardsApi

            self.assertEqual(DashboardsApi(client).get_public_dashboard(token=token).dashboard_id, created["new_id"])
            self.api.Screenboard.revoke(board_id)
            from datadog_api_client.exceptions import NotFoundException

            with self.assertRaises(NotFoundException):
                DashboardsApi(client).get_public_dashboard(token=token)
        self.api.Screenboard.update(board_id, board_title="renamed", widgets=widgets)
        self.assertEqual(self.api.Screenboard.get(board_id)["board_title"], "renamed")
        self.api.Screenboard.delete(board_id)
        self.assertNotIn(board_id, [b["id"] for b in self.api.Screenboard.get_all()["screenboards"]])

    def test_dog_dashboard_timeboard_and_dashboard_list(self):
        widgets = json.dumps(solution_payload("timeboard.json")["widgets"])
        title = unique("dog board")
        created = json.loads(dog("dashboard", "post", title, widgets, "ordered", "--description", "d"))
        self.assertEqual(len(created["widgets"]), 3)
        shown = json.loads(dog("dashboard", "show", created["id"]))
        self.assertEqual(shown["id"], created["id"])
        listed = json.loads(dog("dashboard_list", "post", unique("dog list")))
        item = [{"type": "custom_timeboard", "id": created["id"]}]
        added = json.loads(dog("dashboard_list", "add_dashboards_v2", str(listed["id"]), json.dumps(item)))
        self.assertEqual(added["added_dashboards_to_list"], item)
        # The legacy listing shows the same board, by its numeric id and title.
        self.assertIn(title, dog("timeboard", "show_all"))
        dog("dashboard", "delete", created["id"])
        self.assertNotIn(title, dog("timeboard", "show_all"))

    def test_api_client_dashboards(self):
        from datadog_api_client.exceptions import ApiException, NotFoundException
        from datadog_api_client.v1.api.dashboards_api import DashboardsApi
        from datadog_api_client.v1.model.dashboard import Dashboard
        from datadog_api_client.v1.model.dashboard_bulk_action_data import DashboardBulkActionData
        from datadog_api_client.v1.model.dashboard_bulk_action_data_list import DashboardBulkActionDataList
        from datadog_api_client.v1.model.dashboard_bulk_delete_request import DashboardBulkDeleteRequest
        from datadog_api_client.v1.model.dashboard_layout_type import DashboardLayoutType
        from datadog_api_client.v1.model.dashboard_resource_type import DashboardResourceType
        from datadog_api_client.v1.model.dashboard_restore_request import DashboardRestoreRequest
        from datadog_api_client.v1.model.dashboard_template_variable import DashboardTemplateVariable
        from datadog_api_client.v1.model.note_widget_definition import NoteWidgetDefinition
        from datadog_api_client.v1.model.note_widget_definition_type import NoteWidgetDefinitionType
        from datadog_api_client.v1.model.timeseries_widget_definition import TimeseriesWidgetDefinition
        from datadog_api_client.v1.model.timeseries_widget_definition_type import TimeseriesWidgetDefinitionType
        from datadog_api_client.v1.model.timeseries_widget_request import TimeseriesWidgetRequest
        from datadog_api_client.v1.model.widget import Widget
        from datadog_api_client.v1.model.widget_display_type import WidgetDisplayType

        def board(title):
            return Dashboard(
                title=title, layout_type=DashboardLayoutType.ORDERED, description="from datadog-api-client",
                template_variables=[DashboardTemplateVariable(name="env", prefix="env", defaults=["dev"])],
                widgets=[
                    Widget(definition=TimeseriesWidgetDefinition(
                        type=TimeseriesWidgetDefinitionType.TIMESERIES, title="p95", requests=[TimeseriesWidgetRequest(
                            q="avg:trace.flask.request.duration{service:flask,$env}",
                            display_type=WidgetDisplayType.LINE)])),
                    Widget(definition=NoteWidgetDefinition(type=NoteWidgetDefinitionType.NOTE, content="hello")),
                ],
            )

        with api_client() as client:
            api = DashboardsApi(client)
            created = api.create_dashboard(body=board(unique("client board")))
            self.assertEqual(created.layout_type, DashboardLayoutType.ORDERED)
            self.assertEqual(created.template_variables[0].defaults, ["dev"])
            self.assertEqual(created.widgets[0].definition.requests[0].q,
                             "avg:trace.flask.request.duration{service:flask,$env}")
            self.assertIsInstance(created.widgets[1].id, int)
            got = api.get_dashboard(dashboard_id=created.id)
            self.assertEqual(got.widgets[1].definition.content, "hello")
            updated = api.update_dashboard(dashboard_id=created.id, body=board("renamed by client"))
            self.assertEqual(updated.url, "/dashboard/%s/renamed-by-client" % created.id)
            listed = api.list_dashboards(filter_shared=False)
            self.assertIn(created.id, [d.id for d in listed.dashboards])

            other = api.create_dashboard(body=board(unique("second")))
            bulk = [DashboardBulkActionData(id=i, type=DashboardResourceType.DASHBOARD) for i in (created.id, other.id)]
            api.delete_dashboards(body=DashboardBulkDeleteRequest(data=DashboardBulkActionDataList(bulk)))
            with self.assertRaises(NotFoundException):
                api.get_dashboard(dashboard_id=other.id)
            deleted = api.list_dashboards(filter_deleted=True)
            self.assertIn(other.id, [d.id for d in deleted.dashboards])
            api.restore_dashboards(body=DashboardRestoreRequest(data=DashboardBulkActionDataList(bulk)))
            self.assertEqual(api.get_dashboard(dashboard_id=other.id).id, other.id)
            self.assertEqual(api.delete_dashboard(dashboard_id=other.id).deleted_dashboard_id, other.id)
            with self.assertRaises(ApiException) as raised:
                api.create_dashboard(body=Dashboard(title="free", layout_type=DashboardLayoutType.FREE, widgets=[
                    Widget(definition=NoteWidgetDefinition(type=NoteWidgetDefinitionType.NOTE, content="no layout"))]))
            self.assertEqual(raised.exception.status, 400)
            self.assertIn("Invalid widget at position 0. Error: 'layout' is a required property",
                          str(raised.exception.body))

    def test_api_client_reads_unknown_widgets_and_legacy_boards(self):
        from datadog_api_client.v1.api.dashboards_api import DashboardsApi

        odd = {"type": "sparkle_chart", "colours": ["#632ca6"], "requests": {"anything": True}}
        board = self.api.Dashboard.create(title=unique("odd"), layout_type="ordered", widgets=[{"definition": odd}])
        self.assertEqual(board["widgets"][0]["definition"], odd)
        timeboard = self.api.Timeboard.create(title=unique("legacy"), description="d", graphs=[
            {"title": "g", "definition": {"viz": "timeseries", "events": [],
                                          "requests": [{"q": "avg:my_metric{*}", "type": "bars"}]}}])
        with api_client() as client:
            api = DashboardsApi(client)
            # The client keeps a shape it does not know as an unparsed definition instead of failing.
            self.assertEqual(api.get_dashboard(dashboard_id=board["id"]).id, board["id"])
            legacy = api.get_dashboard(dashboard_id=timeboard["dash"]["new_id"])
            self.assertEqual(legacy.widgets[0].definition.requests[0].q, "avg:my_metric{*}")
            self.assertEqual(str(legacy.widgets[0].definition.requests[0].display_type), "bars")

    def test_api_client_shared_dashboards_and_invitations(self):
        from datadog_api_client.exceptions import NotFoundException
        from datadog_api_client.v1.api.dashboards_api import DashboardsApi
        from datadog_api_client.v1.model.dashboard_global_time import DashboardGlobalTime
        from datadog_api_client.v1.model.dashboard_global_time_live_span import DashboardGlobalTimeLiveSpan
        from datadog_api_client.v1.model.dashboard_invite_type import DashboardInviteType
        from datadog_api_client.v1.model.dashboard_share_type import DashboardShareType
        from datadog_api_client.v1.model.dashboard_type import DashboardType
        from datadog_api_client.v1.model.shared_dashboard import SharedDashboard
        from datadog_api_client.v1.model.shared_dashboard_invites import SharedDashboardInvites
        from datadog_api_client.v1.model.shared_dashboard_invites_data_object import SharedDashboardInvitesDataObject
        from datadog_api_client.v1.model.shared_dashboard_invites_data_object_attributes import (
            SharedDashboardInvitesDataObjectAttributes,
        )
        from datadog_api_client.v1.model.shared_dashboard_update_request import SharedDashboardUpdateRequest
        from datadog_api_client.v1.model.shared_dashboard_update_request_global_time import (
            SharedDashboardUpdateRequestGlobalTime,
        )

        board = self.api.Dashboard.create(**solution_payload("timeboard.json"))
        with api_client() as client:
            api = DashboardsApi(client)
            share = api.create_public_dashboard(body=SharedDashboard(
                dashboard_id=board["id"], dashboard_type=DashboardType.CUSTOM_TIMEBOARD,
                share_type=DashboardShareType.OPEN,
                global_time=DashboardGlobalTime(live_span=DashboardGlobalTimeLiveSpan.PAST_ONE_HOUR)))
            self.assertRegex(share.token, r"^[a-z0-9]{16}-[0-9a-f]{32}$")
            self.assertEqual(share.public_url, "%s/sb/%s" % (URL, share.token))
            self.assertEqual(share.title, board["title"])
            self.assertEqual(api.get_public_dashboard(token=share.token).dashboard_id, board["id"])
            updated = api.update_public_dashboard(token=share.token, body=SharedDashboardUpdateRequest(
                global_time=SharedDashboardUpdateRequestGlobalTime(live_span=DashboardGlobalTimeLiveSpan.PAST_FOUR_HOURS),
                share_type=DashboardShareType.INVITE, share_list=["first@example.com"]))
            self.assertEqual(updated.global_time.live_span, DashboardGlobalTimeLiveSpan.PAST_FOUR_HOURS)
            self.assertEqual(updated.invitees[0].email, "first@example.com")
            invites = SharedDashboardInvites(data=SharedDashboardInvitesDataObject(
                type=DashboardInviteType.PUBLIC_DASHBOARD_INVITATION,
                attributes=SharedDashboardInvitesDataObjectAttributes(email="second@example.com")))
            sent = api.send_public_dashboard_invitation(token=share.token, body=invites)
            self.assertEqual(sent.data.attributes.email, "second@example.com")
            listed = api.get_public_dashboard_invitations(token=share.token)
            self.assertEqual(listed.meta.page.total_count, 1)
            self.assertEqual(api.delete_public_dashboard(token=share.token).deleted_public_dashboard_token, share.token)
            with self.assertRaises(NotFoundException):
                api.get_public_dashboard(token=share.token)

    def test_api_client_dashboard_lists(self):
        from datadog_api_client.v1.api.dashboard_lists_api import DashboardListsApi
        from datadog_api_client.v1.model.dashboard_list import DashboardList
        from datadog_api_client.v2.api.dashboard_lists_api import DashboardListsApi as ListItemsApi
        from datadog_api_client.v2.model.dashboard_list_add_items_request import DashboardListAddItemsRequest
        from datadog_api_client.v2.model.dashboard_list_delete_items_request import DashboardListDeleteItemsRequest
        from datadog_api_client.v2.model.dashboard_list_item_request import DashboardListItemRequest
        from datadog_api_client.v2.model.dashboard_type import DashboardType

        board = self.api.Dashboard.create(**solution_payload("timeboard.json"))
        with api_client() as client:
            lists = DashboardListsApi(client)
            created = lists.create_dashboard_list(body=DashboardList(name=unique("list")))
            self.assertEqual(created.dashboard_count, 0)
            items = ListItemsApi(client)
            item = DashboardListItemRequest(id=board["id"], type=DashboardType.CUSTOM_TIMEBOARD)
            added = items.create_dashboard_list_items(
                dashboard_list_id=created.id, body=DashboardListAddItemsRequest(dashboards=[item]))
            self.assertEqual([d.id for d in added.added_dashboards_to_list], [board["id"]])
            got = items.get_dashboard_list_items(dashboard_list_id=created.id)
            self.assertEqual((got.total, got.dashboards[0].title), (1, board["title"]))
            self.assertEqual(lists.get_dashboard_list(list_id=created.id).dashboard_count, 1)
            renamed = lists.update_dashboard_list(list_id=created.id, body=DashboardList(name="renamed"))
            self.assertEqual(renamed.name, "renamed")
            self.assertIn(created.id, [entry.id for entry in lists.list_dashboard_lists().dashboard_lists])
            removed = items.delete_dashboard_list_items(
                dashboard_list_id=created.id, body=DashboardListDeleteItemsRequest(dashboards=[item]))
            self.assertEqual([d.id for d in removed.deleted_dashboards_from_list], [board["id"]])
            self.assertEqual(lists.delete_dashboard_list(list_id=created.id).deleted_dashboard_list_id, created.id)


class MonitorsAndDowntimes(unittest.TestCase):
    """Monitors and downtimes, as the exercise makes them: datadogpy 0.56.0 (`api.Monitor`,
    `api.Downtime`, `dog monitor`, `dog downtime`) and datadog-api-client 2.62.0 (`MonitorsApi`,
    `DowntimesApi`)."""

    QUERY = "avg(last_5m):avg:my_metric{host:compat-host} > 800"
    MESSAGE = "{{#is_alert}}{{value}} on {{host.ip}}{{/is_alert}}{{#is_warning}}warn{{/is_warning}} @me@example.com"

    def setUp(self):
        self.api = datadogpy()

    def create_monitor(self):
        return self.api.Monitor.create(
            type="metric alert", query=self.QUERY, name=unique("compat monitor"), message=self.MESSAGE,
            tags=["exercise:compat"],
            options={"thresholds": {"critical": 800, "warning": 500}, "notify_no_data": True, "no_data_timeframe": 10},
        )

    def test_datadogpy_monitor_lifecycle(self):
        created = self.create_monitor()
        monitor_id = created["id"]
        self.assertIsInstance(monitor_id, int)
        got = self.api.Monitor.get(monitor_id)
        # Datadog answers "query alert" for the metric monitors it was asked to create as "metric alert".
        self.assertIn(got["type"], ("metric alert", "query alert"))
        self.assertEqual(got["query"], self.QUERY)
        self.assertEqual(got["options"]["thresholds"], {"critical": 800.0, "warning": 500.0})
        self.assertEqual((got["options"]["notify_no_data"], got["options"]["no_data_timeframe"]), (True, 10))
        updated = self.api.Monitor.update(monitor_id, query=self.QUERY, options={"thresholds": {"critical": 800}})
        # `options` is replaced whole on update.
        self.assertEqual(updated["options"]["thresholds"], {"critical": 800.0})
        self.assertIn(monitor_id, [m["id"] for m in self.api.Monitor.get_all(monitor_tags="exercise:compat")])
        self.assertEqual(self.api.Monitor.delete(monitor_id), {"deleted_monitor_id": monitor_id})

    def test_datadogpy_refuses_a_warning_above_critical(self):
        answer = self.api.Monitor.create(
            type="metric alert", query=self.QUERY, name=unique("bad"), message="m",
            options={"thresholds": {"critical": 800, "warning": 900}},
        )
        self.assertIn("errors", answer)
        self.assertTrue(any("warning" in e.lower() for e in answer["errors"]), answer)

    def test_datadogpy_downtime_weekly_for_the_monitor(self):
        monitor_id = self.create_monitor()["id"]
        start = int(time.time()) + 86400
        created = self.api.Downtime.create(
            scope="host:compat-host", monitor_id=monitor_id, start=start, end=start + 14 * 3600,
            timezone="America/New_York", message="quiet @me@example.com",
            recurrence={"type": "weeks", "period": 1, "week_days": ["Mon", "Tue", "Wed", "Thu", "Fri"]},
        )
        downtime_id = created["id"]
        self.assertEqual((created["monitor_id"], created["scope"]), (monitor_id, ["host:compat-host"]))
        self.assertEqual(created["recurrence"]["week_days"], ["Mon", "Tue", "Wed", "Thu", "Fri"])
        self.assertEqual(self.api.Downtime.get(downtime_id)["id"], downtime_id)
        self.assertIn(downtime_id, [d["id"] for d in self.api.Downtime.get_all()])
        self.api.Downtime.delete(downtime_id)
        self.assertIsNotNone(self.api.Downtime.get(downtime_id).get("canceled"))
        self.api.Monitor.delete(monitor_id)

    def test_dog_monitor_and_downtime(self):
        name = unique("dog monitor")
        out = dog("monitor", "post", "metric alert", self.QUERY, "--name", name, "--message", self.MESSAGE)
        monitor_id = json.loads(out)["id"]
        self.assertEqual(json.loads(dog("monitor", "show", str(monitor_id)))["name"], name)
        start = str(int(time.time()) + 3600)
        posted = json.loads(dog("downtime", "post", "host:compat-host", start, "--end", str(int(start) + 600)))
        self.assertEqual(json.loads(dog("downtime", "show", str(posted["id"])))["id"], posted["id"])
        dog("downtime", "delete", str(posted["id"]))
        dog("monitor", "delete", str(monitor_id))

    def test_api_client_monitors_and_v2_downtimes(self):
        from datadog_api_client.v1.api.monitors_api import MonitorsApi
        from datadog_api_client.v1.model.monitor import Monitor
        from datadog_api_client.v1.model.monitor_options import MonitorOptions
        from datadog_api_client.v1.model.monitor_thresholds import MonitorThresholds
        from datadog_api_client.v1.model.monitor_type import MonitorType
        from datadog_api_client.v2.api.downtimes_api import DowntimesApi
        from datadog_api_client.v2.model.downtime_create_request import DowntimeCreateRequest
        from datadog_api_client.v2.model.downtime_create_request_attributes import DowntimeCreateRequestAttributes
        from datadog_api_client.v2.model.downtime_create_request_data import DowntimeCreateRequestData
        from datadog_api_client.v2.model.downtime_monitor_identifier_id import DowntimeMonitorIdentifierId
        from datadog_api_client.v2.model.downtime_resource_type import DowntimeResourceType
        from datadog_api_client.v2.model.downtime_schedule_recurrence_create_update_request import (
            DowntimeScheduleRecurrenceCreateUpdateRequest,
        )
        from datadog_api_client.v2.model.downtime_schedule_recurrences_create_request import (
            DowntimeScheduleRecurrencesCreateRequest,
        )

        with api_client() as client:
            monitors = MonitorsApi(client)
            body = Monitor(
                type=MonitorType.METRIC_ALERT, query=self.QUERY, name=unique("client monitor"), message=self.MESSAGE,
                options=MonitorOptions(thresholds=MonitorThresholds(critical=800.0, warning=500.0),
                                       notify_no_data=True, no_data_timeframe=10),
            )
            monitors.validate_monitor(body=body)
            created = monitors.create_monitor(body=body)
            self.assertEqual(monitors.get_monitor(monitor_id=created.id).query, self.QUERY)
            found = monitors.search_monitors(query="id:%d" % created.id)
            self.assertEqual([m.id for m in found.monitors], [created.id])

            downtimes = DowntimesApi(client)
            monday = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 7 * 86400))
            request = DowntimeCreateRequest(data=DowntimeCreateRequestData(
                type=DowntimeResourceType.DOWNTIME,
                attributes=DowntimeCreateRequestAttributes(
                    scope="host:compat-host",
                    monitor_identifier=DowntimeMonitorIdentifierId(monitor_id=created.id),
                    message="weekday nights @me@example.com",
                    schedule=DowntimeScheduleRecurrencesCreateRequest(
                        timezone="America/New_York",
                        recurrences=[DowntimeScheduleRecurrenceCreateUpdateRequest(
                            rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", duration="14h", start=monday + "T19:00")],
                    ),
                ),
            ))
            downtime = downtimes.create_downtime(body=request)
            attributes = downtimes.get_downtime(downtime_id=downtime.data.id).data.attributes
            self.assertEqual(attributes.scope, "host:compat-host")
            self.assertEqual(attributes.schedule.recurrences[0].rrule, "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR")
            self.assertIn(downtime.data.id, [d.id for d in downtimes.list_downtimes().data])
            downtimes.cancel_downtime(downtime_id=downtime.data.id)
            monitors.delete_monitor(monitor_id=created.id)


if __name__ == "__main__":
    unittest.main(verbosity=2)
