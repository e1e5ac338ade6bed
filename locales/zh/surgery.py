"""修改 ResNet 标签页（5.3）：控件、修改前后对比、前向检查、代码、教程中的坑、报错。"""

TEXT = {
    # -- 页面
    "surgery.intro": (
        "### 5.3 · 修改 ResNet：替换输出层、添加外部输入、添加额外输出、决定哪些层参与训练\n"
        "选一个 torchvision 的 ResNet（随机初始化的权重，或者你自己的 state_dict 文件；不会下载任何东西），勾选要做的"
        "修改，然后点 **应用修改**。左边是 torchvision 原样构建的网络，右边是修改之后的网络，改动过的行会标出来；"
        "控件旁边是用一个虚拟 batch 做的前向传播，列出每个输出的形状；下面是做同样事情的 PyTorch 代码。\n"
        "新的分类头输出的是 **logits**（不加 Softmax：CrossEntropyLoss 内部会做），外部输入拼接在**真正的倒数第二层"
        "特征**上（resnet18/34 是 512 维，其余是 2048 维），而不是 ImageNet 的 1000 个类别分数。取值范围：类别数 2 到 "
        "10,000；隐藏层最多 4 层，每层 1 到 4,096；外部输入 1 到 1,024 个值；batch 1 到 8；图像边长 32 到 384 像素。"
    ),
    "surgery.arch": "网络结构",
    "surgery.weights": "权重（可选的 state_dict：.pt .pth .pkl .safetensors）",
    "surgery.new_head": "新的分类头：fc1 => relu1 => dropout1 ... => logits",
    "surgery.hidden": "隐藏层大小（例如 512, 128；留空表示没有隐藏层）",
    "surgery.dropout": "Dropout",
    "surgery.classes": "类别数",
    "surgery.extra_input": "外部输入（拼接到特征上）",
    "surgery.extra_size": "外部输入的维数",
    "surgery.extra_output": "额外输出：(logits, 特征)",
    "surgery.freeze": "冻结主干网络（只训练分类头）",
    "surgery.freeze.info": (
        "fc 以外的参数 requires_grad=False。BatchNorm 的运行统计量（running_mean / running_var）是 buffer 而不是参数，"
        "在 train 模式下照样会更新。在 model.train() 之后调用 eval_frozen_batchnorm(model)（见下面的坑）。"
    ),
    "surgery.batch": "虚拟 batch 大小 N（1-8）",
    "surgery.size": "图像边长（32-384）",
    "surgery.run": "应用修改",
    "surgery.forward": "前向检查（eval 模式、inference mode）：每个输入和输出",
    "surgery.before.table": "未修改模型的顶层子模块",
    "surgery.before.print": "print() 出的、将被替换的部分",
    "surgery.after.table": "修改后的顶层子模块（改动的行有底色）",
    "surgery.after.print": "print() 出的新部分",
    "surgery.before.empty": "**修改前**",
    "surgery.after.empty": "**修改后**",
    "surgery.code.title": "修改 ResNet",
    # -- 服务器写进页面的文字
    "surgery.before.totals": "**修改前** · torchvision `{arch}` · 参数 {total:,} 个 · 可训练 {trainable:,} 个",
    "surgery.after.totals": (
        "**修改后** · `{model}` · 参数 {total:,} 个 · 可训练 {trainable:,} 个（参数 {d_total:+,}，可训练 "
        "{d_trainable:+,}）"
    ),
    "surgery.load.random": "随机初始化的权重（随机种子 0）；没有下载任何东西。",
    "surgery.load.loaded": "从 `{name}` 读取了 {count:,} 个张量，加载到{target}。",
    "surgery.load.fixes": "从 `{name}` 读取了 {count:,} 个张量，加载到{target}（{fixes}）。",
    "surgery.load.target.resnet": "原始 ResNet",
    "surgery.load.target.model": "修改后的模型",
    "surgery.print.nothing": "# 没有改动",
    "surgery.print.retrained": "# requires_grad 改变了的部分：{names}",
    "surgery.col.name": "名称",
    "surgery.col.type": "类型",
    "surgery.col.params": "参数量",
    "surgery.col.trainable": "可训练",
    "surgery.col.change": "改动",
    "surgery.col.model": "模型",
    "surgery.col.kind": "类别",
    "surgery.col.shape": "形状",
    "surgery.col.dtype": "dtype",
    "surgery.change.replaced": "已替换",
    "surgery.change.new": "新增",
    "surgery.change.frozen": "已冻结",
    "surgery.change.unfrozen": "已解冻",
    "surgery.cell.before": "修改前",
    "surgery.cell.after": "修改后",
    "surgery.cell.input": "输入",
    "surgery.cell.output": "输出",
    # -- 教程中的坑：折叠面板标题、图的文字、表头和单元格
    "surgery.pitfall.softmax": "坑：以 Softmax 结尾的分类头再用 CrossEntropyLoss 训练（5.3.1）",
    "surgery.pitfall.extra_input": "坑：外部输入拼接在 ImageNet 的 logits 上，而不是特征上（5.3.2）",
    "surgery.pitfall.unused_input": "坑：5.3.3 的 forward 要求一个从来不用的 add_variable",
    "surgery.pitfall.device": "坑：用 .cuda() 而不是 .to(device)，外部输入的 dtype 不对（5.3.2）",
    "surgery.pitfall.pretrained": "坑：用 pretrained=True（5.4.2）而不是 weights=",
    "surgery.pitfall.frozen_bn": "坑：主干冻结了，BatchNorm 的统计量却还在变",
    "surgery.fig.title": "CrossEntropyLoss：输出 logits 的分类头与教程中以 Softmax 结尾的分类头",
    "surgery.fig.step": "步数",
    "surgery.fig.loss": "损失",
    "surgery.fig.grad": "梯度范数（对数坐标）",
    "surgery.fig.logits": "输出 logits 的分类头（本实验室）",
    "surgery.fig.softmax": "Softmax 分类头（教程 5.3.1）",
    "surgery.fig.floor": "Softmax 分类头的损失下限",
    "surgery.col.head": "分类头",
    "surgery.col.final_loss": "最终损失",
    "surgery.col.floor": "损失下限",
    "surgery.col.accuracy": "训练集准确率",
    "surgery.col.grad_first": "梯度范数（第 1 步）",
    "surgery.col.grad_last": "梯度范数（最后几步）",
    "surgery.col.version": "写法",
    "surgery.col.joined": "拼接后 (N, 维数)",
    "surgery.col.zeroed": "拼接后为 0 的比例",
    "surgery.col.head_params": "主干之后的参数量",
    "surgery.col.output": "输出",
    "surgery.col.sums_to_one": "每行之和为 1",
    "surgery.col.extra_matters": "外部输入影响输出",
    "surgery.col.call": "调用",
    "surgery.col.result": "结果",
    "surgery.col.add_var": "add_var",
    "surgery.col.tutorial": "教程的 forward",
    "surgery.col.lab": "WithExtraInput 的 forward",
    "surgery.col.warnings": "警告数",
    "surgery.col.said": "torchvision 的原话",
    "surgery.col.download": "会开始下载的文件",
    "surgery.col.side": "代码",
    "surgery.col.layers": "统计量被更新的 BatchNorm 层",
    "surgery.col.drift": "运行统计量的最大变化",
    "surgery.col.params_changed": "变化的参数",
    "surgery.cell.softmax": "Softmax（教程 5.3.1）",
    "surgery.cell.logits": "logits（本实验室）",
    "surgery.cell.tutorial": "教程 5.3.2：拼接在 ImageNet 的 logits 上",
    "surgery.cell.lab": "本实验室：拼接在倒数第二层特征上",
    "surgery.cell.wrong": "冻结，然后 train()",
    "surgery.cell.right": "冻结，train()，再 eval_frozen_batchnorm()",
    "surgery.cell.yes": "是",
    "surgery.cell.no": "否",
    # -- 坑的说明（ui.widgets.pitfall_view）：标题和原因，用坑的 facts 填数字
    "pitfall.surgery.softmax.title": "以 Softmax 结尾的分类头，再用 CrossEntropyLoss 训练",
    "pitfall.surgery.softmax.why": (
        "5.3.1 的新分类头最后一层是 `nn.Softmax(dim=1)`，训练时又用 `nn.CrossEntropyLoss`，而它内部本来就会做 "
        "log-softmax：损失函数把 [0, 1] 之间的概率当成了 logits。这里把同一个分类头（相同的初始权重、相同的 dropout "
        "掩码）用 Adam 训练 {steps} 步，数据是 {samples} 个合成的 {features} 维特征、{classes} 个类别（非负，和 "
        "resnet50 池化后的特征一样），一次以 Softmax 结尾，一次直接输出 logits。它并没有“训练不动”：两者的训练集"
        "准确率分别达到 {softmax_accuracy:.0%} 和 {logits_accuracy:.0%}。真正的区别在于：\n\n"
        "- **损失有下限。** 输入是概率 p 时，损失等于 logsumexp(p) − p_y，只有 p 恰好是 one-hot 时最小：log(e + C − 1) "
        "− 1 = log(1 + (C − 1)/e)，C = {classes} 时为 **{floor:.4f}**（在 one-hot 的 p 上实际算得 {floor_check:.4f}）。"
        "Softmax 分类头最终停在 {softmax_loss:.4f}，只比下限高 {softmax_above_floor:.1e}；输出 logits 的分类头降到 "
        "{logits_loss:.4f}。于是损失值分不出“好的模型”和“完美的模型”，而且 softmax(p) 给正确类别的概率永远不会超过 "
        "e/(e + C − 1) = {max_prob:.1%}。\n"
        "- **梯度变小。** 第 1 步时 Softmax 分类头的梯度范数是 {softmax_grad0:.3f}，输出 logits 的是 "
        "{logits_grad0:.3f}，小了 {grad_ratio0:.1f} 倍：多出来的 Softmax 把梯度乘上了它的雅可比矩阵。最后 {tail} 步"
        "的平均值分别是 {softmax_grad_end:.2e} 和 {logits_grad_end:.2e}。\n\n"
        "改法：分类头输出 logits；只在需要展示概率时才做 `softmax`（`model(x).softmax(dim=1)`）。"
    ),
    "pitfall.surgery.extra_input.title": "外部输入拼接在 ImageNet 的 logits 上，而不是特征上",
    "pitfall.surgery.extra_input.why": (
        "5.3.2 把 `self.net(x)` 称为倒数第二层，可是 ImageNet 的 `fc` 还在，它返回的是 1000 个类别分数。这些分数先过 "
        "ReLU（这里拼接后的值有 {tutorial_zeroed:.0%} 是 0），再拼上外部输入（维数 {tutorial_joined}），由 `fc_add` "
        "映射到 10 维，最后又是一个 Softmax：主干之后的部分共有 {tutorial_head_params:,} 个参数。真正的倒数第二层特征"
        "是 `fc` 的输入（{arch} 是 {features} 维），用 `net.fc = nn.Identity()` 就能拿到：拼接后维数 {lab_joined}，"
        "{lab_head_params:,} 个参数，输出 logits。以上是在 eval 模式下、用 ({batch}, 3, {size}, {size}) 的虚拟 batch "
        "实测的，外部输入分别取 0 和 10。"
    ),
    "pitfall.surgery.unused_input.title": "5.3.3 的 forward 要求一个从来不用的 add_variable",
    "pitfall.surgery.unused_input.why": (
        "5.3.3 的 `forward(self, x, add_variable)` 照搬了 5.3.2 的参数，却从来没有用到 `add_variable`：只传真正需要的"
        "那一个输入时模型调用不了，而传什么值都不会改变结果（传 0 和 1e6，输出完全相同：{identical}）。它的 "
        "\"x1000\" 输出仍然是 {x1000} 个 ImageNet 类别分数，而不是 {arch} 的 {features} 维特征。"
        "`WithExtraOutput.forward(x)` 只要一个输入，返回 `(logits, features)`。"
    ),
    "pitfall.surgery.device.title": "用 .cuda() 而不是 .to(device)；外部输入的 dtype 或设备不对",
    "pitfall.surgery.device.why": (
        "教程用 `.cuda()` 把模型放到 GPU 上，在没有 CUDA 的机器上一定会失败（这台机器用的是 **{device}**）。"
        "`.to(device)` 配合 `device = torch.device(\"cuda\" if torch.cuda.is_available() else \"cpu\")` "
        "在哪里都能运行。"
        "外部输入也要跟着走：教程的 `forward` 原样拼接 `add_variable`，所以从 numpy 来的 float64 数组会让 float32 的 "
        "`fc_add` 报错；在 GPU 上，留在 CPU 的张量会让 `torch.cat` 报错。表中把三种 `add_var` 分别送进教程的 forward"
        "（模型已用 `.to` 放到 {device} 上）和 `WithExtraInput` 的 forward；后者会把外部输入转成浮点数并放到特征所在的"
        "设备上。在这台机器上，教程的写法 3 次中失败 {failures} 次。"
    ),
    "pitfall.surgery.pretrained.title": "pretrained=True：已弃用，而且会下载",
    "pitfall.surgery.pretrained.why": (
        "5.4.2 用 `models.resnet152(pretrained=True)` 构建模型。torchvision {torchvision} 仍然接受这种写法，但会给出 "
        "{warnings} 条警告，原文是：*{warning_1}* 以及 *{warning_2}* 然后下载 {url}（{megabytes:.0f} MB）。"
        "本实验室不联网，所以这个坑在 torchvision 开始下载的地方把下载拦了下来（不会访问网络，也不会写磁盘），"
        "并显示它要下载什么。现在的写法是 `weights=`：`weights=None` 表示随机初始化（本标签页就是这样），"
        "`{v1}` 是 `pretrained=True` 原来指的预训练权重（ImageNet top-1 {v1_acc}%），"
        "`{default}` 是最新的（{default_acc}%）。表中逐一试了各种写法（在 meta "
        "设备上：不占内存，也不做初始化）；`pretrained=False` 同样会警告。"
    ),
    "pitfall.surgery.frozen_bn.title": "冻结主干并不会冻结 BatchNorm",
    "pitfall.surgery.frozen_bn.why": (
        "`requires_grad=False` 让梯度不再流向这些参数，优化器也就不会改动冻结的权重；但 BatchNorm 的 running_mean 和 "
        "running_var 是 buffer，在 train 模式下由前向传播自己更新。这里把带新分类头的 {arch} 冻结（可训练参数 "
        "{wrong_trainable:,} 个），调用 `train()`，再送进一个新数据的 batch：{norms} 个 BatchNorm 层中有 "
        "{wrong_layers} 个的统计量变了（最多变了 {wrong_drift:.3g}），而变化的参数是 {wrong_params_changed} 个。"
        "在 `model.train()` 之后调用 `eval_frozen_batchnorm(model)`，把冻结的 BatchNorm 层设为 eval 模式："
        "{norms} 个中变化的是 {right_layers} 个。`model.eval()` 也能阻止它，不过作用于整个模型。"
    ),
    # -- 报错句子里的字段名，以及与单个取值无关的报错
    "field.surgery.arch": "网络结构",
    "field.surgery.new_head": "新的分类头",
    "field.surgery.hidden": "隐藏层大小",
    "field.surgery.dropout": "Dropout",
    "field.surgery.classes": "类别数",
    "field.surgery.extra_input": "外部输入",
    "field.surgery.extra_size": "外部输入的维数",
    "field.surgery.extra_output": "额外输出",
    "field.surgery.freeze": "冻结",
    "field.surgery.batch": "batch 大小",
    "field.surgery.size": "图像边长",
    "accept.surgery.hidden": "最多 {layers} 个 1 到 {high} 之间的整数，例如 128 或 512, 128（留空表示没有隐藏层）",
    "error.surgery.not_resnet": "需要一个 torchvision 的 ResNet（带有 layer4 和 fc），收到的是 {type}。",
    "error.surgery.extra_shape": "外部输入的形状是 {shape}；这个模型接受的是 {accepted}。",
    "error.surgery.keep_trainable": "keep_trainable 中的 {value} 不对应这个模型的任何参数；顶层名称有：{names}。",
    "error.surgery.weights_misfit": "权重文件 {name} 与 {arch} 不匹配：{problems}。",
    "error.surgery.forward_failed": "输入形状为 {shapes} 时前向检查失败：{message}",
}
