"""ui.jslink: a component's ES module and those it imports joined into the one module string Streamlit takes.
(That the joined components run is the browser tests' part.)"""
import re

import pytest

from browser import ROOT
from ui.jslink import link


def write(folder, files):
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def test_each_module_comes_once_before_its_importers_without_imports_or_their_exports(tmp_path):
    write(tmp_path, {
        "base.js": "export const base = 1;\n",
        "view.js": 'import { base } from "./base.js";\nexport class View { get b() { return base; } }\n',
        "lib/helper.js": 'import { base } from "../base.js";\nexport function helper() { return base; }\n',
        "app.js": 'import { View } from "./view.js";\nimport { helper } from "./lib/helper.js";\n'
                  "export default function (c) { return new View(c, helper()); }\n",
    })
    linked = link(tmp_path / "app.js")
    assert linked.count("const base = 1;") == 1
    order = [linked.index(text) for text in ("const base", "class View", "function helper", "export default")]
    assert order == sorted(order)
    assert "import" not in linked
    assert re.findall(r"^export .*", linked, re.M) == ["export default function (c) { return new View(c, helper()); }"]


@pytest.mark.parametrize("files, message", [
    ({"a.js": "export const a = 1;\n", "app.js": 'import { a, b } from "./a.js";\nexport default function () {}\n'},
     "imports b from ./a.js, which does not export it"),
    ({"a.js": "export const a = 1;\nconst shared = 2;\n",
      "app.js": 'import { a } from "./a.js";\nconst shared = 3;\nexport default function () {}\n'},
     "shared is declared at the top level of both a.js and app.js"),
    ({"a.js": 'import { b } from "./b.js";\nexport const a = 1;\n', "b.js": 'import { a } from "./a.js";\n'
      "export const b = 1;\n", "app.js": 'import { a } from "./a.js";\nexport default function () {}\n'},
     "import cycle: app.js -> a.js -> b.js -> a.js"),
    ({"app.js": 'import * as a from "./a.js";\nexport default function () {}\n'}, "only `import { names }"),
])
def test_what_would_break_once_joined_is_refused_with_the_names(tmp_path, files, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        link(write(tmp_path, files) / "app.js")


@pytest.mark.parametrize("module", ["decoder/pad.js", "decoder/sliders.js", "decoder/grid.js", "drawing/draw.js"])
def test_every_component_links_to_one_module_with_its_default_export(module):
    linked = link(ROOT / "ui" / module)
    assert not re.search(r"^\s*import\b", linked, re.M)
    assert re.findall(r"^export\b.*", linked, re.M) == ["export default function (component) {"]
    assert "function mountOnce(" in linked
