"""`ddlab_obfuscate`: literals become `?`, the query's shape and names stay, metadata lists what it touches."""
import json
import unittest

import ddlab_obfuscate

# (query, options, obfuscated query, tables, commands, comments)
CASES = [
    ("SELECT * FROM users WHERE id = 42 AND name = 'bob'", {},
     "SELECT * FROM users WHERE id = ? AND name = ?", "users", ["SELECT"], []),
    ("select a.b, c from s.t join u on t.id=u.id where x in (1,2,3) -- hi", {},
     "select a.b, c from s.t join u on t.id = u.id where x in ( ? )", "s.t,u", ["SELECT", "JOIN"], ["-- hi"]),
    ("INSERT INTO t (a,b) VALUES (1, 'x'), (2, 'it''s')", {},
     "INSERT INTO t ( a, b ) VALUES ( ? )", "t", ["INSERT"], []),
    ("/* app=web */ UPDATE t SET a = -1.5e3 WHERE b = 0xFF", {},
     "UPDATE t SET a = ? WHERE b = ?", "t", ["UPDATE"], ["/* app=web */"]),
    ("SELECT $1, :name, %s, %(x)s, ? FROM t WHERE a::int = 3", {"dbms": "postgresql"},
     "SELECT $1, :name, %s, %(x)s, ? FROM t WHERE a::int = ?", "t", ["SELECT"], []),
    ('SELECT "a" FROM "T" WHERE x = $$secret$$', {"dbms": "postgresql"},
     'SELECT "a" FROM "T" WHERE x = ?', '"T"', ["SELECT"], []),
    ('SELECT count(*) FROM `db`.`tbl` WHERE c = "q" # trailing', {"dbms": "mysql"},
     "SELECT count ( * ) FROM `db`.`tbl` WHERE c = ?", "`db`.`tbl`", ["SELECT"], ["# trailing"]),
    ("DELETE FROM t1 WHERE name LIKE 'a\\'b%'", {},
     "DELETE FROM t1 WHERE name LIKE ?", "t1", ["DELETE"], []),
    ("SELECT col1abc FROM t2 WHERE v IS NULL", {},
     "SELECT col1abc FROM t2 WHERE v IS NULL", "t2", ["SELECT"], []),
]


class ObfuscateSqlTest(unittest.TestCase):
    def test_cases(self):
        for query, options, expected, tables, commands, comments in CASES:
            with self.subTest(query=query):
                result = ddlab_obfuscate.obfuscate_sql(query, options)
                self.assertEqual(result["query"], expected)
                self.assertEqual(result["metadata"]["tables_csv"], tables)
                self.assertEqual(result["metadata"]["commands"], commands)
                self.assertEqual(result["metadata"]["comments"], comments)

    def test_procedures_are_collected(self):
        result = ddlab_obfuscate.obfuscate_sql("CREATE PROCEDURE p1 () BEGIN SELECT 1; END", {})
        self.assertEqual(result["metadata"]["procedures"], ["p1"])
        self.assertEqual(result["query"], "CREATE PROCEDURE p1 ( ) BEGIN SELECT ?; END")

    def test_collection_can_be_turned_off(self):
        result = ddlab_obfuscate.obfuscate_sql("SELECT 1 FROM t -- c", {"collect_tables": False,
                                                                       "collect_commands": False,
                                                                       "collect_comments": False})
        self.assertEqual(result["metadata"], {"tables_csv": "", "commands": [], "comments": [],
                                              "procedures": [], "size": 0})

    def test_normalize_only_keeps_literals(self):
        result = ddlab_obfuscate.obfuscate_sql("SELECT  *  FROM t WHERE a = 1", {"obfuscation_mode": "normalize_only"})
        self.assertEqual(result["query"], "SELECT * FROM t WHERE a = 1")


class ObfuscatePlanTest(unittest.TestCase):
    def test_sql_fragments_are_obfuscated_and_costs_dropped_when_normalising(self):
        plan = json.dumps({"query_block": {"cost_info": {"query_cost": "1.0"},
                                           "table": {"table_name": "t", "attached_condition": "(t.a = 5)"}}})
        self.assertEqual(json.loads(ddlab_obfuscate.obfuscate_sql_exec_plan(plan, True)),
                         {"query_block": {"table": {"table_name": "t", "attached_condition": "( t.a = ? )"}}})
        kept = json.loads(ddlab_obfuscate.obfuscate_sql_exec_plan(plan, False))
        self.assertEqual(kept["query_block"]["cost_info"], {"query_cost": "1.0"})

    def test_invalid_plans_raise(self):
        with self.assertRaises(RuntimeError):
            ddlab_obfuscate.obfuscate_sql_exec_plan("{not json", False)


class ObfuscateMongoTest(unittest.TestCase):
    def test_values_become_placeholders(self):
        command = '{"find": "c", "filter": {"a": 1, "b": [1, 2]}}'
        self.assertEqual(json.loads(ddlab_obfuscate.obfuscate_mongodb_string(command)),
                         {"find": "?", "filter": {"a": "?", "b": ["?", "?"]}})


if __name__ == "__main__":
    unittest.main()
