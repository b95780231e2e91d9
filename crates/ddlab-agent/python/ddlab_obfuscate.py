"""Query obfuscation for `datadog_agent.obfuscate_sql` and friends.

The Agent obfuscates in Go (`pkg/obfuscate`, go-sqllexer). This is a smaller tokenizer with the same
contract: literals (quoted strings, numbers, hex and dollar-quoted strings) become `?`, lists of
placeholders collapse to one (`IN ( ? )`), comments are removed and collected, whitespace is
normalised, and the metadata lists the commands, tables and procedures a query touches. Identifiers,
quoted identifiers (`"a"`, `` `a` ``, `[a]`), bind parameters (`?`, `$1`, `:name`, `%s`) and keywords
are kept.
"""

import json
import re

_COMMANDS = (
    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "TRUNCATE", "GRANT", "REVOKE",
    "COMMIT", "ROLLBACK", "BEGIN", "MERGE", "EXECUTE", "EXEC", "CALL", "JOIN", "REPLACE", "USE", "SHOW",
)
_TABLE_AFTER = ("FROM", "JOIN", "INTO", "UPDATE", "TABLE")
_NOT_TABLES = frozenset(("SELECT", "IF", "EXISTS", "NOT", "ONLY", "LATERAL", "("))

_NUMBER = re.compile(r"(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_WORD = re.compile(r"[A-Za-z_@#][A-Za-z0-9_@#$]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_POSITIONAL = re.compile(r"\$\d+")
_NAMED = re.compile(r":[A-Za-z_][A-Za-z0-9_]*")
_FORMAT = re.compile(r"%(?:\([A-Za-z_][A-Za-z0-9_]*\))?s")


def obfuscate_sql(query, options=None):
    """Returns {"query": ..., "metadata": {...}} like the Agent's ObfuscatedQuery."""
    options = options or {}
    if isinstance(query, bytes):
        query = query.decode("utf-8", "replace")
    query = str(query or "")
    mode = options.get("obfuscation_mode", "")
    replace_literals = mode != "normalize_only"
    keep_comments = bool(options.get("keep_sql_comments") or options.get("keep_comments"))
    mysql = str(options.get("dbms", "mysql")).lower() in ("mysql", "")
    tokens, comments = _tokenize(query, replace_literals, keep_comments, mysql)
    tokens = _collapse_placeholder_lists(tokens)
    text = _render(tokens)
    commands, tables, procedures = _metadata(tokens)
    metadata = {
        "tables_csv": ",".join(tables) if options.get("collect_tables", True) else "",
        "commands": commands if options.get("collect_commands", True) else [],
        "comments": comments if options.get("collect_comments", True) else [],
        "procedures": procedures if options.get("collect_procedures", True) else [],
    }
    metadata["size"] = (len(metadata["tables_csv"]) + sum(len(c) for c in metadata["commands"])
                        + sum(len(c) for c in metadata["comments"]) + sum(len(p) for p in metadata["procedures"]))
    return {"query": text, "metadata": metadata}


def _tokenize(query, replace_literals, keep_comments, mysql):
    tokens = []
    comments = []
    i = 0
    n = len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
            continue
        # `#` starts a comment in MySQL; elsewhere it starts a name (`#temp` in SQL Server).
        if query.startswith("--", i) or (c == "#" and mysql):
            end = query.find("\n", i)
            end = n if end == -1 else end
            comment = query[i:end].rstrip()
            comments.append(comment)
            if keep_comments:
                tokens.append(("comment", comment))
            i = end
            continue
        if query.startswith("/*", i):
            end = query.find("*/", i + 2)
            end = n if end == -1 else end + 2
            comment = query[i:end]
            comments.append(comment)
            if keep_comments:
                tokens.append(("comment", comment))
            i = end
            continue
        if c == "'" or (c in "eEnNbBxX" and i + 1 < n and query[i + 1] == "'"):
            start = i
            if c != "'":
                i += 1
            i = _skip_quoted(query, i, "'", backslash=True)
            tokens.append(("literal", "?") if replace_literals else ("literal", query[start:i]))
            continue
        if c == '"':
            # A string in MySQL (unless ANSI_QUOTES), a quoted name everywhere else.
            end = _skip_quoted(query, i, '"', backslash=mysql)
            if mysql:
                tokens.append(("literal", "?") if replace_literals else ("literal", query[i:end]))
            else:
                tokens.append(("ident", query[i:end]))
            i = end
            continue
        if c == "`":
            end = _skip_quoted(query, i, "`", backslash=False)
            tokens.append(("ident", query[i:end]))
            i = end
            continue
        if c == "[" and tokens and tokens[-1][0] != "ident":
            end = query.find("]", i)
            end = n if end == -1 else end + 1
            tokens.append(("ident", query[i:end]))
            i = end
            continue
        if c == "$":
            match = _DOLLAR_TAG.match(query, i)
            if match:
                tag = match.group(0)
                end = query.find(tag, match.end())
                end = n if end == -1 else end + len(tag)
                tokens.append(("literal", "?") if replace_literals else ("literal", query[i:end]))
                i = end
                continue
            match = _POSITIONAL.match(query, i)
            if match:
                tokens.append(("param", match.group(0)))
                i = match.end()
                continue
        if c == ":" and not query.startswith("::", i) and (i == 0 or query[i - 1] != ":"):
            match = _NAMED.match(query, i)
            if match:
                tokens.append(("param", match.group(0)))
                i = match.end()
                continue
        if c == "%":
            match = _FORMAT.match(query, i)
            if match:
                tokens.append(("param", match.group(0)))
                i = match.end()
                continue
        if c == "?":
            tokens.append(("param", "?"))
            i += 1
            continue
        if c.isdigit() or (c == "." and i + 1 < n and query[i + 1].isdigit()):
            match = _NUMBER.match(query, i)
            end = match.end()
            # A number glued to letters (`1abc`) is part of an identifier.
            if end < n and (query[end].isalpha() or query[end] == "_"):
                match = re.compile(r"[A-Za-z0-9_$]+").match(query, i)
                tokens.append(("word", match.group(0)))
                i = match.end()
                continue
            negative = (tokens and tokens[-1] == ("op", "-") and
                        (len(tokens) < 2 or tokens[-2][0] in ("op", "punct", "keyword")))
            if negative and replace_literals:
                tokens.pop()
            tokens.append(("literal", "?") if replace_literals else ("literal", query[i:end]))
            i = end
            continue
        match = _WORD.match(query, i)
        if match:
            word = match.group(0)
            upper = word.upper()
            if upper in ("TRUE", "FALSE", "NULL"):
                tokens.append(("keyword", upper if upper == "NULL" else word))
            else:
                tokens.append(("word", word))
            i = match.end()
            continue
        if c in "(),;":
            tokens.append(("punct", c))
            i += 1
            continue
        if c == ".":
            tokens.append(("dot", "."))
            i += 1
            continue
        # Operators: take the longest run of operator characters.
        j = i + 1
        while j < n and query[j] in "<>=!|&^~+-*/%:":
            j += 1
        tokens.append(("op", query[i:j]))
        i = j
    return tokens, comments


def _skip_quoted(query, start, quote, backslash):
    i = start + 1
    n = len(query)
    while i < n:
        c = query[i]
        if backslash and c == "\\":
            i += 2
            continue
        if c == quote:
            if i + 1 < n and query[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _collapse_placeholder_lists(tokens):
    # `( ?, ?, ? )` and `VALUES ( ?, ? ), ( ?, ? )` become `( ? )`: the number of values is not part of the
    # query's shape.
    result = []
    i = 0
    while i < len(tokens):
        if tokens[i] == ("punct", "("):
            j = i + 1
            only_literals = True
            seen = 0
            while j < len(tokens) and tokens[j] != ("punct", ")"):
                kind = tokens[j][0]
                if kind == "literal" or tokens[j] == ("param", "?"):
                    seen += 1
                elif tokens[j] != ("punct", ","):
                    only_literals = False
                    break
                j += 1
            if only_literals and seen > 0 and j < len(tokens):
                result.extend([("punct", "("), ("literal", "?"), ("punct", ")")])
                i = j + 1
                continue
        result.append(tokens[i])
        i += 1
    # `( ? ), ( ? )` after VALUES collapses to one group.
    collapsed = []
    for token in result:
        collapsed.append(token)
        while (len(collapsed) >= 7 and collapsed[-7:] == [("punct", "("), ("literal", "?"), ("punct", ")"),
                                                        ("punct", ","), ("punct", "("), ("literal", "?"),
                                                        ("punct", ")")]):
            del collapsed[-4:]
    return collapsed


def _render(tokens):
    # One space between tokens, none before `,` `;` and around `.` and `::`:
    # `SELECT a, b::int FROM s.t WHERE x IN ( ? )`.
    out = []
    previous = None
    for kind, text in tokens:
        sticky = kind == "dot" or text == "::"
        glued = previous is not None and (sticky or previous or text in (",", ";"))
        if previous is not None and not glued:
            out.append(" ")
        out.append(text)
        previous = sticky
    return "".join(out)


def _metadata(tokens):
    commands = []
    tables = []
    procedures = []
    words = [(kind, text, text.upper()) for kind, text in tokens]
    for index, (kind, text, upper) in enumerate(words):
        if kind != "word":
            continue
        if upper in _COMMANDS:
            name = "EXEC" if upper == "EXECUTE" else upper
            if name not in commands:
                commands.append(name)
        if upper in _TABLE_AFTER:
            name = _qualified_name(words, index + 1)
            if name and name.upper() not in _NOT_TABLES and name not in tables:
                tables.append(name)
        if upper == "PROCEDURE" and index > 0 and words[index - 1][2] in ("CREATE", "ALTER", "DROP"):
            name = _qualified_name(words, index + 1)
            if name and name not in procedures:
                procedures.append(name)
    return commands, tables, procedures


def _qualified_name(words, start):
    parts = []
    i = start
    while i < len(words):
        kind, text, upper = words[i]
        if kind in ("word", "ident") and (not parts or words[i - 1][0] == "dot"):
            if kind == "word" and upper in _NOT_TABLES:
                return None
            parts.append(text)
            i += 1
            continue
        if kind == "dot" and parts:
            parts.append(".")
            i += 1
            continue
        break
    return "".join(parts) or None


# Keys of execution plans (MySQL JSON and PostgreSQL JSON) whose values are SQL fragments with literals.
_PLAN_SQL_KEYS = frozenset((
    "attached_condition", "condition", "index_condition", "having_condition", "ref", "key_condition",
    "Filter", "Index Cond", "Join Filter", "Hash Cond", "Merge Cond", "Recheck Cond", "Cache Key",
    "Group Key", "Sort Key", "Presorted Key", "Output", "Function Call", "Table Function Call",
    "TID Cond", "Subplan Name", "One-Time Filter",
))
# Keys that change from run to run without changing the plan's shape; dropped when normalising.
_PLAN_COST_KEYS = frozenset((
    "cost_info", "rows_examined_per_scan", "rows_produced_per_join", "filtered", "read_cost", "eval_cost",
    "prefix_cost", "data_read_per_join", "query_cost", "sort_cost",
    "Startup Cost", "Total Cost", "Plan Rows", "Plan Width", "Actual Startup Time", "Actual Total Time",
    "Actual Rows", "Actual Loops", "Shared Hit Blocks", "Shared Read Blocks", "Shared Dirtied Blocks",
    "Shared Written Blocks", "Local Hit Blocks", "Local Read Blocks", "Local Dirtied Blocks",
    "Local Written Blocks", "Temp Read Blocks", "Temp Written Blocks", "Rows Removed by Filter",
    "Heap Fetches", "Workers Planned", "Workers Launched",
))


def obfuscate_sql_exec_plan(plan, normalize=False):
    """Obfuscates the SQL fragments of a JSON execution plan; `normalize` also drops cost estimates."""
    if isinstance(plan, bytes):
        plan = plan.decode("utf-8", "replace")
    try:
        tree = json.loads(plan)
    except ValueError as error:
        raise RuntimeError("failed to obfuscate the execution plan: not valid JSON: {}".format(error))
    return json.dumps(_walk_plan(tree, normalize), separators=(",", ":"))


def _walk_plan(node, normalize):
    if isinstance(node, dict):
        result = {}
        for key, value in node.items():
            if normalize and key in _PLAN_COST_KEYS:
                continue
            if key in _PLAN_SQL_KEYS and isinstance(value, str):
                result[key] = obfuscate_sql(value)["query"]
            elif key in _PLAN_SQL_KEYS and isinstance(value, list):
                result[key] = [obfuscate_sql(v)["query"] if isinstance(v, str) else _walk_plan(v, normalize)
                               for v in value]
            else:
                result[key] = _walk_plan(value, normalize)
        return result
    if isinstance(node, list):
        return [_walk_plan(item, normalize) for item in node]
    return node


def obfuscate_mongodb_string(command):
    """Replaces every value of a JSON MongoDB command with "?", keeping its keys and shape."""
    if isinstance(command, bytes):
        command = command.decode("utf-8", "replace")
    try:
        tree = json.loads(command)
    except ValueError as error:
        raise RuntimeError("failed to obfuscate the MongoDB command: not valid JSON: {}".format(error))
    return json.dumps(_walk_mongo(tree), separators=(",", ":"))


def _walk_mongo(node):
    if isinstance(node, dict):
        return {key: _walk_mongo(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_walk_mongo(item) for item in node]
    return "?"
