"""The tutorial's own 5.4 listings, as text: only ever compiled and read with `ast`, never run.

The copy beside the lab stops before 5.4.4; the published section goes on with these listings
(docs/tutorial-notes.md). Two of
them cannot run as printed: the "add `module.` to the model" recipe ends with `loaded_model.state_dict =
loaded_dict`, a name no listing before it defines, and the multi-GPU recipe of case 4 has one `)` too many.
`unbound` and `syntax_error` say so from the text alone.
"""

from __future__ import annotations

import ast
import builtins

__all__ = ["LISTING_5_4_2", "RECIPE_ADD_MODULE", "RECIPE_STRIP_LOOP", "RECIPE_CASE_4", "EARLIER", "unbound",
           "bound", "syntax_error"]  # fmt: skip

# 5.4.2: where `save_dir` comes from
LISTING_5_4_2 = """\
from torchvision import models
model = models.resnet152(pretrained=True)
save_dir = './resnet152.pth'

# 保存整个模型
torch.save(model, save_dir)
# 保存模型权重
torch.save(model.state_dict, save_dir)
"""

# 5.4.4, saved multi, loaded single: "去除字典里的module麻烦，往model里添加module简单"
RECIPE_ADD_MODULE = """\
import os
os.environ['CUDA_VISIBLE_DEVICES'] = '0,1,2'   #这里替换成希望使用的GPU编号
import torch
from torchvision import models

model = models.resnet152(pretrained=True)
model = nn.DataParallel(model).cuda()

# 保存+读取模型权重
torch.save(model.state_dict(), save_dir)

os.environ['CUDA_VISIBLE_DEVICES'] = '0'   #这里替换成希望使用的GPU编号
loaded_model = models.resnet152()   #注意这里需要对模型结构有定义
loaded_model.load_state_dict(torch.load(save_dir))
loaded_model = nn.DataParallel(loaded_model).cuda()
loaded_model.state_dict = loaded_dict
"""

# 5.4.4, the next recipe: "遍历字典去除module" (the first listing that defines `loaded_dict`)
RECIPE_STRIP_LOOP = """\
from collections import OrderedDict
os.environ['CUDA_VISIBLE_DEVICES'] = '0'   #这里替换成希望使用的GPU编号

loaded_dict = torch.load(save_dir)

new_state_dict = OrderedDict()
for k, v in loaded_dict.items():
    name = k[7:] # module字段在最前面，从第7个字符开始就可以去掉module
    new_state_dict[name] = v #新字典的key值对应的value一一对应

loaded_model = models.resnet152()   #注意这里需要对模型结构有定义
loaded_model.state_dict = new_state_dict
loaded_model = loaded_model.cuda()
"""

# 5.4.4, saved multi, loaded multi: "多卡模式下建议使用权重的方式存储和读取模型"
RECIPE_CASE_4 = """\
import os
import torch
from torchvision import models

os.environ['CUDA_VISIBLE_DEVICES'] = '0,1,2'   #这里替换成希望使用的GPU编号

model = models.resnet152(pretrained=True)
model = nn.DataParallel(model).cuda()

# 保存+读取模型权重，强烈建议！！
torch.save(model.state_dict(), save_dir)
loaded_model = models.resnet152()   #注意这里需要对模型结构有定义
loaded_model.load_state_dict(torch.load(save_dir)))
loaded_model = nn.DataParallel(loaded_model).cuda()
"""

# What a reader has before RECIPE_ADD_MODULE: 5.4.2's names and the `nn` every chapter-5 listing imports (5.1)
EARLIER = LISTING_5_4_2 + "import torch.nn as nn\n"


def bound(text: str) -> set[str]:
    """The names a listing defines: assignments, loop targets, imports, functions and classes."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def unbound(text: str, before: str = "") -> list[str]:
    """Names a listing reads that neither it, the listings `before` it, nor Python's builtins define, in the order
    they are first read (compiled, never run: the NameError it would raise, found from the text)."""
    known = bound(text) | (bound(before) if before else set()) | set(dir(builtins))
    used = [node for node in ast.walk(ast.parse(text)) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)]
    ordered = sorted(used, key=lambda node: (node.lineno, node.col_offset))
    return list(dict.fromkeys(node.id for node in ordered if node.id not in known))


def syntax_error(text: str, name: str = "<5.4.4>") -> tuple[str, int, str] | None:
    """(message, line number, that line) of the SyntaxError `compile` raises on a listing, or None if it compiles."""
    try:
        compile(text, name, "exec")
    except SyntaxError as exc:
        line = text.splitlines()[exc.lineno - 1].strip() if exc.lineno else ""
        return f"SyntaxError: {exc.msg}", int(exc.lineno or 0), line
    return None
