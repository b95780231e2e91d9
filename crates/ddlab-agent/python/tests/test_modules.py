"""`aggregator`, `datadog_agent` and `ddlab_runtime`: what checks call, and where it ends up."""
import json
import os
import shutil
import tempfile
import unittest

import aggregator
import datadog_agent
import ddlab_runtime


class _Stderr(object):
    def __init__(self):
        self.lines = []

    def write(self, text):
        self.lines.append(text)

    def flush(self):
        pass


class ModulesTest(unittest.TestCase):
    def setUp(self):
        self.cache = tempfile.mkdtemp()
        self.stderr = _Stderr()
        ddlab_runtime.set_host_stderr(self.stderr)
        datadog_agent._configure("7.71.0", "lab-host", ["env:lab"],
                                 {"apm_config": {"enabled": False}, "logs_enabled": True, "dd_url": None},
                                 self.cache, 1700000000.0)
        ddlab_runtime.register("c:1")

    def tearDown(self):
        ddlab_runtime.forget("c:1")
        ddlab_runtime.set_current(None)
        shutil.rmtree(self.cache)

    def test_get_config_answers_settings_then_agent_defaults(self):
        self.assertEqual(datadog_agent.get_config("apm_config.enabled"), False)
        self.assertEqual(datadog_agent.get_config("apm_config"), {"enabled": False})
        self.assertEqual(datadog_agent.get_config("logs_enabled"), True)
        self.assertIsNone(datadog_agent.get_config("dd_url"))
        self.assertEqual(datadog_agent.get_config("log_level"), "info")
        self.assertEqual(datadog_agent.get_config("enable_metadata_collection"), True)
        self.assertEqual(datadog_agent.get_config("run_path"), self.cache)
        self.assertIsNone(datadog_agent.get_config("no_such_setting"))

    def test_identity(self):
        self.assertEqual(datadog_agent.get_hostname(), "lab-host")
        self.assertEqual(datadog_agent.get_version(), "7.71.0")
        self.assertEqual(json.loads(datadog_agent.get_host_tags()), {"system": ["env:lab"]})
        self.assertEqual(datadog_agent.get_process_start_time(), 1700000000.0)
        self.assertEqual(datadog_agent.headers({}, http_host="db")["Host"], "db")
        self.assertEqual(datadog_agent.headers({})["User-Agent"], "Datadog Agent/7.71.0")

    def test_persistent_cache_uses_the_agent_layout(self):
        self.assertEqual(datadog_agent.read_persistent_cache("mysql:abc123_key"), "")
        datadog_agent.write_persistent_cache("mysql:abc123_key", "value")
        self.assertEqual(datadog_agent.read_persistent_cache("mysql:abc123_key"), "value")
        self.assertTrue(os.path.isfile(os.path.join(self.cache, "mysql", "abc123_key")))
        datadog_agent.write_persistent_cache("mysql:abc123_key", "newer")
        self.assertEqual(datadog_agent.read_persistent_cache("mysql:abc123_key"), "newer")
        self.assertEqual(sorted(os.listdir(os.path.join(self.cache, "mysql"))), ["abc123_key"])
        with self.assertRaises(ValueError):
            datadog_agent.write_persistent_cache(":", "x")

    def test_obfuscate_sql_answers_json_when_asked(self):
        self.assertEqual(datadog_agent.obfuscate_sql("SELECT 1"), "SELECT ?")
        answer = json.loads(datadog_agent.obfuscate_sql("SELECT 1 FROM t", json.dumps({"return_json_metadata": True})))
        self.assertEqual(answer["query"], "SELECT ? FROM t")
        self.assertEqual(answer["metadata"]["tables_csv"], "t")

    def test_submissions_are_filed_under_their_check(self):
        aggregator.submit_metric(None, "c:1", aggregator.RATE, "m", 2, ["a:b", 3, b"c:d"], "", False)
        aggregator.submit_metric(None, "c:1", aggregator.GAUGE, "nan", float("nan"), [], "", False)
        aggregator.submit_service_check(None, "c:1", "sc", 2, None, "", "down")
        aggregator.submit_event(None, "c:1", {"msg_title": "t", "timestamp": 12.7, "priority": None, "extra": 1})
        datadog_agent.set_check_metadata("c:1", "version.raw", "1.2.3")
        datadog_agent.log("c:1 | (x.py:1) | hello", 20)
        taken = ddlab_runtime.take("c:1")
        self.assertEqual(taken.metrics, [{"type": 1, "name": "m", "value": 2.0, "tags": ["a:b", "c:d"],
                                          "hostname": "", "flush_first_value": False}])
        self.assertEqual(taken.service_checks, [{"name": "sc", "status": 2, "tags": [], "hostname": "",
                                                 "message": "down"}])
        self.assertEqual(taken.events, [{"msg_title": "t", "timestamp": 12, "tags": []}])
        self.assertEqual(taken.metadata, [["version.raw", "1.2.3"]])
        self.assertEqual([log["message"] for log in taken.logs],
                         ["c:1 | ignoring sample of nan with value nan", "c:1 | (x.py:1) | hello"])
        self.assertEqual(ddlab_runtime.take("c:1").metrics, [])

    def test_bad_arguments_raise_like_the_c_bindings(self):
        with self.assertRaises(TypeError):
            aggregator.submit_metric(None, "c:1", "gauge", "m", 1, [], "", False)
        with self.assertRaises(TypeError):
            aggregator.submit_metric(None, "c:1", aggregator.GAUGE, "m", 1, "a:b", "", False)
        with self.assertRaises(ValueError):
            aggregator.submit_metric(None, "c:1", aggregator.GAUGE, "m", "many", [], "", False)
        with self.assertRaises(TypeError):
            aggregator.submit_event(None, "c:1", "not a dict")

    def test_unsupported_submissions_are_noted_once_per_check(self):
        for _ in range(3):
            aggregator.submit_histogram_bucket(None, "c:1", "h", 1, 0.0, 1.0, True, "", [], False)
        logs = ddlab_runtime.take("c:1").logs
        self.assertEqual(len(logs), 1)
        self.assertIn("histogram buckets", logs[0]["message"])

    def test_empty_check_id_and_unknown_prefix_belong_to_the_running_check(self):
        ddlab_runtime.set_current("c:1")
        aggregator.submit_metric(None, "", aggregator.GAUGE, "in_init", 1, [], "", False)
        datadog_agent.log("- | (lib.py:3) | from a library", 30)
        taken = ddlab_runtime.take("c:1")
        self.assertEqual([m["name"] for m in taken.metrics], ["in_init"])
        self.assertEqual([log["message"] for log in taken.logs], ["- | (lib.py:3) | from a library"])

    def test_lines_outside_any_check_go_to_the_host_log(self):
        datadog_agent.log("- | (lib.py:3) | at import time", 30)
        self.assertEqual(self.stderr.lines,
                         ['ddlab-log {"level": 30, "message": "- | (lib.py:3) | at import time"}\n'])

    def test_printed_lines_become_log_lines_of_the_running_check(self):
        stdout = ddlab_runtime.CapturedStdout()
        ddlab_runtime.set_current("c:1")
        stdout.write("one\ntw")
        stdout.write("o\nthree")
        stdout.flush()
        self.assertEqual([log["message"] for log in ddlab_runtime.take("c:1").logs],
                         ["c:1 | (stdout) | one", "c:1 | (stdout) | two", "c:1 | (stdout) | three"])


if __name__ == "__main__":
    unittest.main()
