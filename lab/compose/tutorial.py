"""Tutorial 5.1.2's `MySequential`, as printed, in a module of its own so that its mistake stays real.

The tutorial imports `OrderedDict` inside the class body: that binds a class attribute, which `__init__` cannot see,
so `MySequential(OrderedDict(...))` fails with a NameError (`MySequential(layer, layer, ...)` works: `len(args) == 1`
is False and the `isinstance` is never reached). This module must not import `OrderedDict` itself.
"""

import torch.nn as nn

__all__ = ["MySequential"]


class MySequential(nn.Module):
    from collections import OrderedDict  # the tutorial's line: a class attribute, invisible inside __init__

    def __init__(self, *args):
        super(MySequential, self).__init__()  # noqa: UP008 - as the tutorial writes it
        if len(args) == 1 and isinstance(args[0], OrderedDict):  # noqa: F821 - 如果传入的是一个OrderedDict
            for key, module in args[0].items():
                self.add_module(key, module)
                # add_module方法会将module添加进self._modules(一个OrderedDict)
        else:  # 传入的是一些Module
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    def forward(self, input):
        # self._modules返回一个 OrderedDict，保证会按照成员添加时的顺序遍历成
        for module in self._modules.values():
            input = module(input)
        return input
