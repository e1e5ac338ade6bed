"""模型定义标签页（5.1）：层的文本、四种写法、打印出的模型和逐层表格、代码、教程中的坑、5.1.5 的残差堆叠、报错。"""

TEXT = {
    # -- 页面
    "compose.intro": (
        "### 5.1 · 同一个网络，四种写法\n"
        "每行写一层（`fc1 = nn.Linear(784, 256)`，或者只写 `nn.ReLU()`），也可以把教程里的代码原样粘贴进来"
        "（`net = nn.Sequential(...)`、`collections.OrderedDict([...])`、用 `.append` 的 ModuleList、用 "
        "`net['output'] = ...` 添加层的 ModuleDict；`import` 和 `print` 行会被跳过），选一种写法，然后运行。这里会打印"
        "模型，逐层跟踪一次前向计算，写出对应的 PyTorch 代码，并验证四种写法在权重相同时计算的是同一个函数。在 "
        "OrderedDict/ModuleDict 写法里，层名就是字典的键；没起名字的层按类型命名（`relu1`、`linear2`）。文本只做解析，"
        "从不执行：只接受下面列出的层，参数只能是字面量（`16 * 5 * 5` 这样的算术也可以）。"
    ),
    "compose.layers": "模型的层，每行一层（或教程中的代码）",
    "compose.style": "写法",
    "compose.shape": "输入形状，batch 维在前（1x784，或 2, 3, 32, 32）",
    "compose.run": "构建并运行",
    "compose.examples": "示例（点一下，再点“构建并运行”）",
    "compose.allowed": (
        "可用的层（最多 64 层、50,000,000 个参数；写 `nn.`、`torch.nn.` 或不加前缀都行；整数不超过 2,147,483,647；"
        "数字之间可以用 `+ - * / // %`，不能用 `**`）："
    ),
    "compose.printed": "print(model)",
    "compose.table": "逐层信息，按前向计算的顺序（lab.inspect.summary）",
    "compose.equivalence": (
        "四种写法计算的是同一个函数：与 nn.Sequential 输出的最大绝对差，先用各自随机初始化的权重，再把 nn.Sequential "
        "的权重复制过去（lab.compose.copy_weights）"
    ),
    "compose.code.title": "模型定义：Sequential、ModuleList、ModuleDict",
    "compose.example.mlp": "教程 5.1.2 的 MLP",
    "compose.example.cnn": "小型 CNN",
    "compose.example.decoder": "解码器（Unflatten、ConvTranspose2d）",
    "compose.example.embedding": "Embedding + LayerNorm",
    "compose.example.mismatch": "形状不匹配（看看报错）",
    "compose.example.sequential_listing": "5.1.2 nn.Sequential 原文代码",
    "compose.example.ordereddict_listing": "5.1.2 OrderedDict 原文代码",
    "compose.example.modulelist_listing": "5.1.3 ModuleList 原文代码",
    "compose.example.moduledict_listing": "5.1.4 ModuleDict 原文代码",
    "compose.example.lenet": "LeNet 式的算术（16 * 5 * 5）",
    # -- 服务器写出的内容
    "compose.totals": "参数 **{total}** 个，可训练 **{trainable}** 个 · 每次前向 {flops} · 输出 **{shape}**",
    "compose.totals.values": "：`{values}`",
    "compose.totals.nonfinite": " · ⚠ 输出中有 {count} 个 NaN/inf",
    "compose.flops": "**{value}** {unit}",
    "compose.col.name": "名称",
    "compose.col.type": "类型",
    "compose.col.depth": "深度",
    "compose.col.input_shape": "输入形状",
    "compose.col.output_shape": "输出形状",
    "compose.col.params": "参数量",
    "compose.col.trainable": "可训练",
    "compose.col.style": "写法",
    "compose.col.class": "类",
    "compose.col.first_key": "第一个键",
    "compose.col.diff_own": "最大绝对差（各自的权重）",
    "compose.col.diff_copied": "最大绝对差（复制权重后）",
    # -- 教程代码逐步运行
    "compose.walks": "跟着教程走一遍：MySequential、索引、append/extend、ModuleDict 的键（5.1.2-5.1.4）",
    "compose.walk.sequential": "5.1.2 · 构建并运行 MySequential（add_module、_modules）；索引 net2[0]、net2[-1]",
    "compose.walk.containers": (
        "5.1.3-5.1.4 · ModuleList 的 append / extend / 索引；ModuleDict 按键和按属性访问、按键添加"
    ),
    "compose.walk.printed": "输出",
    # -- 5.1.5
    "compose.residual": "5.1.5 · 重复的模型块与残差连接（Sequential 串联写不出来的模型）",
    "compose.residual.intro": (
        "5.1.5 说：某个完全相同的层（或模型块）需要重复出现多次时，用 ModuleList/ModuleDict 很方便，“一行顶多行”；"
        "当前层的结果需要和之前层的结果融合时（比如 ResNet 中的残差计算），就得自己写 `forward`。这里的 "
        "`ResidualMLP` 把 `depth` 个相同的模型块放在一个 `nn.ModuleList` 里，每个模型块把自己的输入加回输出"
        "（`x + fc2(act(fc1(norm(x))))`），这是任何 Sequential 串联都做不到的。宽度 1 到 512，模型块数 1 到 8，"
        "输入特征数 1 到 4,096，类别数 1 到 1,000；batch 为 2。"
    ),
    "compose.residual.totals": "参数 **{total}** 个，可训练 **{trainable}** 个 · 输出 **{shape}**",
    "compose.residual.in_features": "输入特征数",
    "compose.residual.width": "宽度",
    "compose.residual.depth": "模型块数（depth）",
    "compose.residual.classes": "类别数",
    "compose.residual.run": "构建残差堆叠",
    "compose.residual.code.title": "用 ModuleList 重复模型块，并加上残差连接",
    # -- 坑
    "compose.pitfall.mysequential": "坑：MySequential 把 OrderedDict 的 import 写在了类里面（5.1.2）",
    "compose.pitfall.pseudo_code": "坑：ModuleList 那段模型类是伪代码（5.1.3）",
    "compose.pitfall.modulelist_forward": "坑：ModuleList 不是网络（5.1.3）",
    "compose.pitfall.moduledict_order": "坑：ModuleDict 保持插入顺序（5.1.4）",
    "pitfall.compose.mysequential.title": "MySequential 在类体里 import OrderedDict",
    "pitfall.compose.mysequential.why": (
        "教程把 `from collections import OrderedDict` 写在 `class MySequential` 里面。这样绑定的是一个类属性，而方法"
        "里用裸名字是看不到类属性的，所以只要传入一个参数，`isinstance(args[0], OrderedDict)` 就会抛出 NameError——"
        "偏偏传 OrderedDict 正是这种情况。传入多个层时这个 bug 被掩盖了：`len(args) == 1` 为 False，isinstance "
        "根本不会执行（各层的键是 {plain_keys}）。把 OrderedDict 放到模块顶部 import，两种用法就都能用了。"
    ),
    "pitfall.compose.pseudo_code.title": "ModuleList 的模型类是伪代码",
    "pitfall.compose.pseudo_code.why": (
        "5.1.3 的这个类（`def __init__(self, ...)`、`self.modulelist = ...`）只是示意，教程自己的输出就是 "
        "SyntaxError。这里只用 compile() 编译（从不执行），报的是同样的错。把它写完整就是 `ListNet`：在 `__init__` "
        "里建好列表，在 `forward` 里用 for 循环依次调用各层。"
    ),
    "pitfall.compose.modulelist_forward.title": "ModuleList 只是把层存起来，它不是网络",
    "pitfall.compose.modulelist_forward.why": (
        "“nn.ModuleList 并没有定义一个网络”（5.1.3）：直接调用这个列表会失败，因为 `nn.ModuleList` 没有 `forward`。"
        "正确的做法是写一个模块，持有这个列表，在 `forward` 里用 for 循环遍历它（即这里的 `ListNet`）；决定网络结构的"
        "是 forward 里的计算顺序，而不是列表里的先后顺序。"
    ),
    "pitfall.compose.moduledict_order.title": "ModuleDict 保持插入顺序",
    "pitfall.compose.moduledict_order.why": (
        "现在的 PyTorch 按层加入的顺序遍历和打印 ModuleDict：{inserted}。PyTorch 1.6 及更早的版本会对普通 dict 的键"
        "排序（pytorch/pytorch#40905 去掉了这一行为），5.1.4 有些打印结果就是这个顺序：{sorted}。对 `.values()` 做 "
        "for 循环时，各层按你写下的顺序运行。"
    ),
    # -- 报错里的字段名，以及不针对单个取值的报错
    "field.compose.style": "写法",
    "field.compose.in_features": "输入特征数",
    "field.compose.width": "宽度",
    "field.compose.depth": "模型块数",
    "field.compose.classes": "类别数",
    "error.compose.refused": "第 {line} 行：PyTorch 拒绝了 {code}（{reason}）。",
    "error.compose.digits": "一个约 {digits} 位的整数",
    "error.compose.zero_division": "第 {line} 行：{where} 中的 `{code}` 除以了零。",
    "error.compose.not_literal": (
        "第 {line} 行：{where} 的参数 `{code}` 不是字面量；请使用数字（以及数字之间的 + - * / // %）、字符串、"
        "True/False/None 或由它们组成的元组。"
    ),
    "error.compose.not_accepted": (
        "第 {line} 行：{where} 的参数 `{code}` 不被接受；请使用有限的数字、短字符串、"
        "True/False/None 或由它们组成的短元组。"
    ),
    "error.compose.out_of_range": (
        "第 {line} 行：{where} 的一个参数 {number} 超出范围；可接受 {low} 到 {high} 之间的整数。"
    ),
    "error.compose.hint": "第 {line} 行：nn.{cls} 中的 {name}={value} 不被接受；请使用{accepted}。",
    "error.compose.hint.or": "{first}或{rest}",
    "error.compose.hint.literal": "以下之一：{options}",
    "error.compose.hint.tuple.one": "由{of}组成的元组",
    "error.compose.hint.tuple.many": "由{of}组成的元组",
    "error.compose.hint.none.one": "None",
    "error.compose.hint.none.many": "None",
    "error.compose.hint.bool.one": "True/False",
    "error.compose.hint.bool.many": "True/False",
    "error.compose.hint.int.one": "整数",
    "error.compose.hint.int.many": "整数",
    "error.compose.hint.float.one": "数字",
    "error.compose.hint.float.many": "数字",
    "error.compose.hint.str.one": "字符串",
    "error.compose.hint.str.many": "字符串",
    "error.compose.hint.value.one": "{name}",
    "error.compose.hint.value.many": "值",
    "error.compose.not_layer": (
        "第 {line} 行：`{code}` 不是一个层；请每行写一层，例如 fc1 = nn.Linear(784, 256) 或 nn.ReLU()，或者粘贴 "
        "nn.Sequential、nn.ModuleList、nn.ModuleDict 的代码。"
    ),
    "error.compose.not_call": (
        "第 {line} 行：`{code}` 不是对层的调用；请写成 nn.ReLU() 或 fc1 = nn.Linear(784, 256) 的形式。"
    ),
    "error.compose.not_allowed": (
        "第 {line} 行：`{code}` 不是可用的层；请使用 {some} 等（共 {count} 种，见文本框下方的列表）。"
    ),
    "error.compose.starred": "第 {line} 行：{where} 中不接受 *args 和 **kwargs；请把参数值逐个写出来。",
    "error.compose.forbidden_kwarg": "第 {line} 行：{where} 中不接受 {name}=；每一层放在哪里由本实验自己决定。",
    "error.compose.bad_name": "第 {line} 行：名字 {name} {why}；请用 fc1、conv2 这样的简短标识符（字母、数字、_）。",
    "error.compose.name.reserved": "是 nn.Module/ModuleDict 的方法或属性",
    "error.compose.name.unusable": "不能用作名字",
    "error.compose.duplicate_name": "第 {line} 行：名字 {name} 已在第 {first} 行用过；每一层都需要自己的名字。",
    "error.compose.empty": "层的文本是空的；请每行写一层，例如 fc1 = nn.Linear(784, 256)。",
    "error.compose.no_layers": "层的文本里只有 import 和 print 行，没有任何层；请至少写一层，例如 nn.ReLU()。",
    "error.compose.too_long": "层的文本有 {count} 个字符；最多接受 {limit} 个。",
    "error.compose.bad_char": "层的文本第 {line} 行 {text} 含有{what}；请以纯文本书写。",
    "error.compose.null_byte": "空字节（\\x00）",
    "error.compose.surrogate": "孤立的代理字符（{code}）",
    "error.compose.where.line": "层的文本第 {line} 行",
    "error.compose.where.text": "层的文本",
    "error.compose.big_digits": "{where}有一个超过 4,300 位的整数：`{bad}...`；可接受 {low} 到 {high} 之间的整数。",
    "error.compose.syntax": "{where}不是合法的 Python（{reason}）：`{bad}`。",
    "error.compose.nested": "层的文本嵌套太深；请每行写一层。",
    "error.compose.too_many": "层的文本有 {count} 层；最多接受 {limit} 层。",
    "error.compose.shape.not_shape": "输入形状 {value} 不是一个形状；请写成 1x784 或 1, 3, 32, 32。",
    "error.compose.shape.not_numbers": "输入形状 {value} 不是一串整数；请写成 1x784 或 1, 3, 32, 32。",
    "error.compose.shape.digits": "输入形状 {value} 中有超过 12 位的尺寸；尺寸最多用到几千即可。",
    "error.compose.too_many_params": (
        "这些层共有 {total} 个参数（第 {line} 行的 {code} 单独就有 {alone} 个）；最多接受 {limit} 个。"
    ),
    "error.compose.no_pairs": "层的列表是空的；请至少给出一个 (name, module) 对。",
    "error.compose.too_many_pairs": "层的列表有 {count} 层；最多接受 {limit} 层。",
    "error.compose.not_module": "第 {index} 个层是 {type}，不是 nn.Module；请给出 (name, module) 对。",
    "error.compose.names_repeat": "层名 {names} 有重复；每一层都需要自己的名字。",
    "error.compose.copy_count": "两个模型分别有 {src} 和 {dst} 个张量；复制权重需要相同的层。",
    "error.compose.copy_shape": "张量 {src} {src_shape} 放不进 {dst} {dst_shape}；复制权重需要相同的层。",
    "error.compose.not_parsed": "比较几种写法需要本实验解析出的层（文本或 parse_layers 的结果）。",
    "error.compose.bilinear": (
        "层 '{name}'（Bilinear，第 {line} 行）需要两个输入，而串联的各层之间只传递一个张量；nn.Bilinear 应放在自己写 "
        "forward 的模型里（5.1.5）。"
    ),
    "error.compose.size": "{shape}，共 {numel} 个元素",
    "error.compose.size_huge": "{shape}，超过 10^15 个元素",
    "error.compose.output_too_big": (
        "层 '{name}'（第 {line} 行）的输出将是 {size}；最多接受 {limit} 个元素：请用更小的输入形状或层的尺寸"
        "。"
    ),
    "error.compose.not_one_tensor": (
        "层 '{name}'（第 {line} 行）返回 {out}，不是单个张量；"
        "串联的各层之间只传递一个张量（去掉 return_indices=True）。"
    ),
    "error.compose.empty_output": (
        "层 '{name}'（第 {line} 行）输出了空张量 {out}；每一层在每个维度上都至少要保留一个元素。"
    ),
    "error.compose.flops": (
        "这些层在输入 {shape} 上做一次前向需要 {gflops} GFLOPs；最多接受 {limit}：请用更小的输入形状或更窄的层。"
    ),
    "error.compose.count.trillion": "{n}×10¹²",
    "error.compose.count.billion": "{n}×10⁹",
    "error.compose.count.million": "{n}×10⁶",
    "error.compose.count.plain": "{n}",
    "error.compose.cheaper.adaptive": "请用更大的 output_size 或更小的输入形状",
    "error.compose.cheaper.pool": "请用更小的 kernel_size、更大的 stride 或更小的输入形状",
    "error.compose.cheaper.upsample": "请用更小的 scale_factor 或 size、mode='nearest' 或更小的输入形状",
    "error.compose.cheaper.conv": "请用更小的 kernel_size、每组更多的通道、更少的输出或更小的输入形状",
    "error.compose.cheaper.embedding": "请去掉 max_norm（它在每次前向时原地重新归一化各行）或用更小的输入形状",
    "error.compose.cheaper.other": "请用更小的输入形状或更小的层",
    "error.compose.layer_work": (
        "层 '{name}'（{kind}，第 {line} 行）在输入 {shape} 上约需 {work} 次运算（{rule}）；"
        "每次前向最多接受 {limit} 次："
        "{advice}。"
    ),
    "error.compose.total_work": (
        "这些层在输入 {shape} 上做一次前向约需 {work} 次运算，其中最多的是层 '{name}'（{kind}，第 {line} 行）"
        "（在输入 {worst_shape} 上 {worst} 次），另有 {overhead} 次用于生成输入和权重、比较各种写法的输出；最多接受 "
        "{limit} 次：{advice}，或减少层数。"
    ),
    "error.compose.layer_line": "层 '{name}'（{kind}，第 {line} 行）",
    "error.inspect.layer": "层 '{name}'（{kind}）",
    "error.inspect.not_shapes": "输入形状 {value} 不是形状的列表；请每个输入给一个形状，例如 [(1, 784)]。",
    "error.inspect.not_shape": "输入形状 {value} 不是一个形状；请写成 (1, 784) 这样的尺寸。",
    "error.inspect.dims": "输入形状 {value} 有 {count} 个维度；可接受 1 到 {limit} 个。",
    "error.inspect.not_positive": "输入形状 {value} 中有不是正整数的尺寸；每个尺寸都要 >= 1。",
    "error.inspect.too_big": "输入形状 {value} 共有 {count} 个元素；最多接受 {limit} 个。",
    "error.inspect.more_than": "超过 10^{power}",
    "error.inspect.no_rows": "第一层 {layer} 没有可查的行；请使 num_embeddings >= 1。",
    "error.inspect.model_failed": "模型无法在输入 {actual} 上运行（{reason}）。",
    "error.inspect.oom": "{layer}在输入 {actual} 上内存不足；请用更小的输入形状或更少的通道。",
    "error.inspect.expects": "{layer}需要形状为 {desc} 的输入，但得到的是 {actual}。",
    "error.inspect.expects_reason": "{layer}需要形状为 {desc} 的输入，但得到的是 {actual}（{reason}）。",
    "error.inspect.could_not_run": "{layer}无法在输入 {actual} 上运行（{reason}）。",
    "error.inspect.desc.both": "{a} 和 {b}",
    "error.inspect.desc.either": "{a} 或 {b}",
    "error.inspect.desc.indices": "[0, {n}) 范围内的整数索引",
    "error.inspect.desc.dimension": "第 {dim} 维大小为 {size}",
}
