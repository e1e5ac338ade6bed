"""动态调整学习率页（教程 6.2）：界面文字、教程的坑、错误提示，以及 lab.safe_expr 的错误提示（公式、JSON 字段）。"""

_LAMBDA = "关于 epoch（0, 1, 2, ...）的表达式，给出倍数"

TEXT = {
    # ---------------------------------------------------------------------------------------------- the tab
    "schedules.intro": (
        "### 动态调整学习率（教程 6.2）\n"
        "选一个 scheduler，设好它的参数：曲线就是 **torch 自己算出来的**（真正的 scheduler 挂在 SGD 优化器上，"
        "momentum 0.9），每个 batch 一个点。一个 epoch 有多个 batch 时，OneCycleLR 和 CyclicLR 每个 batch 之后 step "
        "一次，其余的 scheduler 每个 epoch step 一次，训练循环本来就该这样写。可以把曲线加入对比、试试预设，"
        "复制精确的数值或代码。"
    ),
    "schedules.params_help": (
        "可选参数留空就用 torch 的默认值。`lr_lambda` 是一个关于 `epoch` 的 Python 表达式（数字、"
        "`+ - * / // % **`、比较、`x if c else y`、`min max abs cos sin tan exp log sqrt floor ceil pi e`），"
        "只解析、从不执行。SequentialLR/ChainedScheduler 的成员用 JSON 写："
        '<code>[&#123;"name": "LinearLR", "params": &#123;"total_iters": 5&#125;&#125;, ...]</code>。'
    ),
    "schedules.preset": "预设",
    "schedules.preset.info": "教程里的例子和常用的学习率衰减策略",
    "schedules.preset.tutorial_6_2_2": "教程 6.2.2：adjust_learning_rate 与 StepLR(30, 0.1)、LambdaLR 对比",
    "schedules.preset.warmup_cosine": "先线性 warm-up（预热），再余弦退火（SequentialLR）",
    "schedules.preset.one_cycle": "OneCycleLR：10 个 epoch、每个 100 个 batch，两阶段与三阶段",
    "schedules.preset.warm_restarts": "带热重启的余弦退火（T_0=10, T_mult=2）",
    "schedules.preset.plateau": "ReduceLROnPlateau：作用在一条带噪声、逐渐走平的 loss 上",
    "schedules.name": "Scheduler",
    "schedules.metrics": "ReduceLROnPlateau 的指标（metrics）",
    "schedules.metrics.info": (
        "验证集 loss，每个 epoch 或每个 step 一个值；"
        "留空则用内置的一条带噪声、逐渐走平的 loss（画在右侧坐标轴）"
    ),
    "schedules.steps": "steps（batch 数）",
    "schedules.steps.info": "1 到 100,000",
    "schedules.spe": "每个 epoch 的 step 数",
    "schedules.spe.info": "每个 epoch 有多少个 batch",
    "schedules.base_lr": "优化器的学习率",
    "schedules.base_lr.info": "优化器的初始学习率（大于 0，不超过 10）",
    "schedules.log": "学习率用对数坐标",
    "schedules.epochs": "横轴按 epoch",
    "schedules.plot": "每个 step 的学习率",
    "schedules.pick": "对比曲线（本次会话内保留）",
    "schedules.add": "加入当前曲线",
    "schedules.remove": "移除选中的曲线",
    "schedules.clear": "全部清空",
    "schedules.table": "每条曲线的精确数值（CSV 里有每一个 step）",
    "schedules.csv": "CSV（所有曲线、所有 step）",
    "schedules.code.title": "动态调整学习率：本页的学习率曲线",
    "schedules.field.info": "{help}（torch 默认值：{default}）",
    "schedules.field.info_required": "必填：{help}",
    "schedules.help": "**{name}**（{how}）：{about}",
    "schedules.how.per_batch": "每个 batch 之后 step 一次",
    "schedules.how.per_epoch": "每个 epoch step 一次",
    "schedules.how.composite": "有成员按 batch step 时就按 batch，否则按 epoch",
    "schedules.stepped.per_batch": "每个 batch",
    "schedules.stepped.per_epoch": "每个 epoch",
    "schedules.summary": (
        "`{label}` · {how} step 一次 · {steps} 个 step = {epochs} 个 epoch，每个 epoch {spe} 个 step · "
        "学习率从 {first} 开始，最后是 {last}，最小 {low}，最大 {high}"
    ),
    "schedules.summary.same": "它也是对比里的第 #{number} 条曲线，只画一次。",
    "schedules.skipped.params": "⚠️ 链接里 {name} 的参数不被接受，所以显示的是 torch 的默认值：{reason}",
    "schedules.skipped.comparison": "⚠️ 链接里的对比曲线读不出来，已略去：{reason}",
    "schedules.skipped.overlay": "⚠️ 链接里的第 {number} 条对比曲线画不出来，已略去：{reason}",
    # words of tables and figures
    "schedules.col.step": "step",
    "schedules.col.epoch": "epoch",
    "schedules.col.lr": "学习率",
    "schedules.col.metric": "指标",
    "schedules.col.param_group": "参数组",
    "schedules.col.initial_lr": "初始学习率",
    "schedules.col.scheduler": "scheduler",
    "schedules.col.loop": "循环写法",
    "schedules.col.peak_lr": "最高学习率",
    "schedules.col.final_lr": "最后的学习率",
    "schedules.axis.step": "step（batch）",
    "schedules.axis.epoch": "epoch",
    "schedules.axis.lr": "学习率",
    "schedules.axis.metric": "指标（右侧坐标轴）",
    "schedules.axis.loss": "验证集 loss",
    "schedules.mark.decay": "衰减",
    "schedules.mark.milestone": "里程碑（milestone）",
    "schedules.mark.restart": "重启",
    "schedules.mark.T_max": "T_max：降到 eta_min",
    "schedules.mark.plateau": "走平：学习率下调",
    # ---------------------------------------------------------------------------------------------- schedulers
    "schedules.about.LambdaLR": "学习率 = 初始学习率 × lr_lambda(epoch)，可以写任意关于 epoch 的公式。",
    "schedules.about.MultiplicativeLR": "学习率 = 上一个 epoch 的学习率 × lr_lambda(epoch)，从第 1 个 epoch 起生效。",
    "schedules.about.StepLR": "每隔 step_size 个 epoch，学习率乘以 gamma。",
    "schedules.about.MultiStepLR": "到了 milestones 里列出的每个 epoch，学习率乘以 gamma。",
    "schedules.about.ConstantLR": "total_iters 之前学习率保持为初始学习率 × factor，之后恢复初始学习率。",
    "schedules.about.LinearLR": (
        "在 total_iters 个 epoch 内把倍数从 start_factor "
        "线性变到 end_factor（常用作 warm-up 预热）。"
    ),
    "schedules.about.ExponentialLR": "每个 epoch 学习率乘以 gamma。",
    "schedules.about.PolynomialLR": "在 total_iters 个 epoch 内按 power 次多项式把学习率降到 0。",
    "schedules.about.CosineAnnealingLR": "在 T_max 个 epoch 内沿半个余弦周期从初始学习率降到 eta_min。",
    "schedules.about.ChainedScheduler": "把几个 scheduler 一起 step：它们的倍数相乘。",
    "schedules.about.SequentialLR": "到了 milestones 就从一个 scheduler 交给下一个（比如先 warm-up，再衰减）。",
    "schedules.about.ReduceLROnPlateau": (
        "某个指标（验证集 loss）连续 patience "
        "个 epoch 没有改善时，学习率乘以 factor。"
    ),
    "schedules.about.CyclicLR": "逐个 batch 让学习率在 base_lr 和 max_lr 之间循环。",
    "schedules.about.OneCycleLR": "整个训练只走一个周期，逐个 batch：先升到 max_lr，再降到远低于起点。",
    "schedules.about.CosineAnnealingWarmRestarts": (
        "余弦衰减，周期结束后重新回到初始学习率，"
        "每个周期是上一个的 T_mult 倍长。"
    ),
    "schedules.about.AdjustLearningRate": (
        "教程 6.2.2 的 adjust_learning_rate：每隔 "
        "`every` 个 epoch 学习率乘以 factor，效果同 StepLR。"
    ),
    "schedules.about.unknown": "当前安装的 torch 里的一个 scheduler，详见它的文档。",
    # ---------------------------------------------------------------------------------------------- parameters
    "schedules.param.unknown": "详见 torch 的文档",
    "schedules.param.LambdaLR.lr_lambda": f"学习率 = 初始学习率 × 倍数；{_LAMBDA}",
    "schedules.param.MultiplicativeLR.lr_lambda": f"学习率 = 上一个学习率 × 倍数，从第 1 个 epoch 起；{_LAMBDA}",
    "schedules.param.StepLR.step_size": "两次衰减之间隔多少个 epoch",
    "schedules.param.StepLR.gamma": "每次衰减时学习率乘的倍数",
    "schedules.param.MultiStepLR.milestones": "在哪些 epoch 把学习率乘以 gamma",
    "schedules.param.MultiStepLR.gamma": "每个 milestone 处乘的倍数",
    "schedules.param.ConstantLR.factor": "total_iters 之前学习率为初始学习率 × factor",
    "schedules.param.ConstantLR.total_iters": "保持降低后学习率的 epoch 数",
    "schedules.param.LinearLR.start_factor": "第 0 个 epoch 的倍数",
    "schedules.param.LinearLR.end_factor": "到 total_iters 时达到并保持的倍数",
    "schedules.param.LinearLR.total_iters": "线性变化持续的 epoch 数",
    "schedules.param.ExponentialLR.gamma": "每个 epoch 学习率乘的倍数",
    "schedules.param.PolynomialLR.total_iters": "学习率降到 0 所用的 epoch 数",
    "schedules.param.PolynomialLR.power": "多项式衰减的次数",
    "schedules.param.CosineAnnealingLR.T_max": "半个余弦周期的 epoch 数：到 T_max 时学习率降到 eta_min",
    "schedules.param.CosineAnnealingLR.eta_min": "最低学习率",
    "schedules.param.ChainedScheduler.schedulers": "每个 epoch 一起 step 的成员，倍数相乘",
    "schedules.param.SequentialLR.schedulers": "在各个 milestone 依次接手的成员",
    "schedules.param.SequentialLR.milestones": "下一个成员接手的 epoch（比成员数少一个）",
    "schedules.param.ReduceLROnPlateau.mode": "min：指标应当下降（如 loss）；max：指标应当上升（如准确率）",
    "schedules.param.ReduceLROnPlateau.factor": "走平时学习率乘的倍数",
    "schedules.param.ReduceLROnPlateau.patience": "容忍多少个 epoch 没有改善才下调学习率",
    "schedules.param.ReduceLROnPlateau.threshold": "算作改善的最小变化量",
    "schedules.param.ReduceLROnPlateau.threshold_mode": "rel：相对最好值；abs：绝对值",
    "schedules.param.ReduceLROnPlateau.cooldown": "下调之后先等多少个 epoch 再重新计数",
    "schedules.param.ReduceLROnPlateau.min_lr": "学习率的下限",
    "schedules.param.ReduceLROnPlateau.eps": "小于这个值的下调直接跳过",
    "schedules.param.CyclicLR.base_lr": "循环的下界（取代优化器里设的学习率）",
    "schedules.param.CyclicLR.max_lr": "循环的上界",
    "schedules.param.CyclicLR.step_size_up": "从 base_lr 升到 max_lr 用多少个 batch",
    "schedules.param.CyclicLR.step_size_down": "降回去用多少个 batch（留空：同 step_size_up）",
    "schedules.param.CyclicLR.mode": "triangular；triangular2 每个周期高度减半；exp_range 按 gamma 衰减",
    "schedules.param.CyclicLR.gamma": "exp_range 模式下每个 batch 乘的倍数",
    "schedules.param.CyclicLR.scale_mode": "按周期还是按迭代缩放（不给 scale_fn 时由 mode 决定）",
    "schedules.param.CyclicLR.cycle_momentum": "动量（momentum）也跟着循环，方向与学习率相反",
    "schedules.param.CyclicLR.base_momentum": "周期顶点处的动量",
    "schedules.param.CyclicLR.max_momentum": "周期底部的动量",
    "schedules.param.OneCycleLR.max_lr": "学习率的峰值",
    "schedules.param.OneCycleLR.total_steps": "一个周期的 batch 数（留空：epochs × steps_per_epoch，否则为曲线长度）",
    "schedules.param.OneCycleLR.epochs": "与 steps_per_epoch 一起，可代替 total_steps",
    "schedules.param.OneCycleLR.steps_per_epoch": "与 epochs 一起，可代替 total_steps",
    "schedules.param.OneCycleLR.pct_start": "周期中用来升高学习率的比例",
    "schedules.param.OneCycleLR.anneal_strategy": "升降的形状：cos（余弦）或 linear（线性）",
    "schedules.param.OneCycleLR.cycle_momentum": "动量（momentum）也跟着循环，方向与学习率相反",
    "schedules.param.OneCycleLR.base_momentum": "学习率到峰值时的动量",
    "schedules.param.OneCycleLR.max_momentum": "开始和结束时的动量",
    "schedules.param.OneCycleLR.div_factor": "初始学习率 = max_lr / div_factor",
    "schedules.param.OneCycleLR.final_div_factor": "最终学习率 = 初始学习率 / final_div_factor",
    "schedules.param.OneCycleLR.three_phase": (
        "加第三个阶段，把学习率降到远低于起点，这是 Smith 原论文的做法；默认的两阶段沿用 fastai 的做法"
    ),
    "schedules.param.CosineAnnealingWarmRestarts.T_0": "到第一次重启的 epoch 数",
    "schedules.param.CosineAnnealingWarmRestarts.T_mult": "每个周期是上一个周期的 T_mult 倍长",
    "schedules.param.CosineAnnealingWarmRestarts.eta_min": "最低学习率",
    "schedules.param.AdjustLearningRate.every": "两次衰减之间隔多少个 epoch（教程里是 30）",
    "schedules.param.AdjustLearningRate.factor": "每次衰减乘的倍数（教程里是 0.1）",
    # ---------------------------------------------------------------------------------------------- pitfalls
    "pitfall.schedules.usage_tab_error.title": "使用示例编译不过",
    "pitfall.schedules.usage_tab_error.why": (
        "照原样编译，Python 先停在第 {placeholder_line} 行：`{placeholder}` 是留给你填 scheduler 的占位符。"
        "把占位符都填上（lab 填的是 `{filled}`），Python 仍然拒绝这段代码：第 {line} 行的 `scheduler1.step()` "
        "用 Tab 缩进，而所在的循环用的是四个空格，于是报 "
        "`TabError: inconsistent use of tabs and spaces in indentation`（缩进里混用了 Tab 和空格）。"
        "在网页上 Tab 可能显示得像是这行写在了循环外面；其实它既不在循环里也不在循环外，根本跑不起来。"
        "缩进只用空格：右边是同一个循环，换成真实的模型、Adam 和两个 scheduler，在循环里每个 epoch step 一次。"
    ),
    "pitfall.schedules.step_outside_loop.title": "scheduler.step() 写在 epoch 循环外面（常见错误）",
    "pitfall.schedules.step_outside_loop.why": (
        "教程里并没有这样写，但很容易写错：把 `scheduler.step()` 放在 `for epoch` 循环之后，它只在训练结束时"
        "执行一次，{epochs} 个 epoch 全用初始学习率训练（只有 {wrong} 个不同的值）。放在循环里、这个 epoch 的 "
        "`optimizer.step()` 之后，StepLR(step_size=20) 会把学习率降两次（{right} 个不同的值）。"
    ),
    "pitfall.schedules.optimizer_per_epoch.title": "optimizer.step() 每个 epoch 才调用一次",
    "pitfall.schedules.optimizer_per_epoch.why": (
        "教程的循环在 `train(...)` 之后每个 epoch 调用一次 `optimizer.step()`。这样参数每个 epoch 只更新一次，"
        "而且只用了最后一个 batch 的梯度：{epochs} 个 epoch 只有 {updates_wrong} 次更新，而不是 {updates_right} 次。"
        "同样的模型和数据，每个 batch 都 step 时验证集 loss 降到 {loss_right}；每个 epoch 一次只到 {loss_wrong}。"
        "`optimizer.step()` 应该放在每个 batch 的 `loss.backward()` 之后；scheduler 则每个 epoch step 一次"
        "（OneCycleLR 和 CyclicLR 每个 batch 一次）。"
    ),
    "pitfall.schedules.per_batch.title": "OneCycleLR 和 CyclicLR 要在每个 batch 之后 step",
    "pitfall.schedules.per_batch.why": (
        "OneCycleLR 和 CyclicLR 是按 batch 计数的：这里 total_steps = {epochs} 个 epoch × {batches} 个 batch。"
        "如果每个 epoch 才 step 一次，OneCycleLR 只走了其中 {epochs} 步：学习率只升到 {peak_wrong}，到不了 max_lr "
        "{max_lr}，也不会再降下来；CyclicLR 连第一次上升都走不完。应该在每个 batch 的 `optimizer.step()` 之后"
        "紧接着 step 它们。"
    ),
    "pitfall.schedules.plateau_metric.title": "ReduceLROnPlateau 要用 step(metric)",
    "pitfall.schedules.plateau_metric.why": (
        "ReduceLROnPlateau 在某个指标不再改善时降低学习率，所以它的 `step` 要传入这个指标，通常是这个 epoch 的"
        "验证集 loss：不传就是左边的 TypeError。每个 epoch 传入 loss（虚线，右侧坐标轴）后，它把学习率下调了 "
        "{drops} 次，降到 {final}。"
    ),
    "pitfall.schedules.adjust_global_args.title": "adjust_learning_rate 读的是全局变量 args",
    "pitfall.schedules.adjust_global_args.why": (
        "教程的 `adjust_learning_rate(optimizer, epoch)` 读取 `args.lr`，也就是它自己脚本里 argparse 解析出的 "
        "Namespace：拿到别处直接报 `NameError`，能跑的地方也取决于 `args` 里恰好是什么。把初始学习率作为参数传进去"
        "（右边，这里是 {base_lr}），或者交给 scheduler 记住：`StepLR(optimizer, 30, 0.1)` 自己保存每个参数组的"
        "初始学习率。"
    ),
    "pitfall.schedules.adjust_all_groups.title": "adjust_learning_rate 覆盖了所有参数组",
    "pitfall.schedules.adjust_all_groups.why": (
        "微调时常给 backbone（主干网络）一个比新分类头更小的学习率（{backbone} 对 {head}）。教程的函数把每个参数组"
        "都设成同一个 `args.lr * 0.1 ** (epoch // 30)`：在第 0 个 epoch 调用，backbone 的学习率就被抬到了 "
        "{raised}。StepLR 按各组自己的初始学习率缩放，组与组之间的比例保持不变（见表）。"
    ),
    "pitfall.schedules.adjust_late.title": "adjust_learning_rate 晚了一个 epoch；StepLR 和 LambdaLR 能做同样的事",
    "pitfall.schedules.adjust_late.why": (
        "教程在第 `epoch` 个 epoch 训练完之后才调用 `adjust_learning_rate(optimizer, epoch)`，所以每个新学习率都"
        "晚到一个 epoch：第 30 个 epoch 仍以 {wrong_30} 训练，而不是 {right_30}。"
        "`StepLR(optimizer, step_size=30, gamma=0.1)` 和 `LambdaLR(optimizer, lambda epoch: 0.1 ** (epoch // 30))` "
        "在每个 epoch 结束时 step，给出的正是想要的学习率，两者完全一样（最大差 {difference}）。"
        "要么在每个 epoch 开始时调用这个函数，要么直接用它们。"
    ),
    # ---------------------------------------------------------------------------------------------- errors
    "field.schedules.name": "Scheduler",
    "field.schedules.steps": "steps（step 数）",
    "field.schedules.steps_per_epoch": "steps_per_epoch（每个 epoch 的 step 数）",
    "field.schedules.base_lr": "base_lr（优化器的学习率）",
    "field.schedules.metrics": "metrics（指标）",
    "field.schedules.overlays": "对比曲线",
    "field.schedules.preset": "预设",
    "field.schedules.params_json": "params_json",
    "field.schedules.param": "{scheduler} 的参数 {param}",
    "field.schedules.params": "{scheduler} 的参数",
    "schedules.accept.optional_int": "{low} 到 {high} 之间的整数，或留空",
    "schedules.accept.int_list": "最多 {count} 个 {low} 到 {high} 之间的整数组成的列表",
    "schedules.accept.expr": "关于 epoch 的表达式，例如 '0.95 ** epoch'",
    "schedules.accept.schedulers": '1 到 {members} 个 {{"name": ..., "params": {{...}}}} 组成的列表',
    "schedules.accept.number_below": "不小于 {low}、小于 {high} 的数",
    "schedules.accept.overlay": "[name, params, steps, steps_per_epoch, base_lr]，steps 在 1 到 {steps} 之间",
    "schedules.accept.overlays": "最多 {count} 条曲线的 JSON 列表",
    "schedules.such_as": "，例如 {example}",
    "schedules.none": "无",
    "error.schedules.params_dict": (
        '{scheduler} 的参数 params={value} 不被接受；请用关键字参数组成的 dict，例如 {{"step_size": 30}}'
        "（留空则用 torch 的默认值）。"
    ),
    "error.schedules.unknown_param": "{scheduler} 没有参数 {param}；它的参数是 {known}。",
    "error.schedules.required": "{scheduler} 需要参数 {param}（{help}）；请给出{accepted}{example}。",
    "error.schedules.milestones": (
        "SequentialLR 的 milestones={value} 不被接受；请给出 {count} 个递增的 epoch，比它的 {members} 个 "
        "scheduler 少一个。"
    ),
    "error.schedules.whole_epochs": (
        "steps={steps} 不是 steps_per_epoch={steps_per_epoch} 的整数倍（不是整数个 epoch）；请用它的倍数，例如 "
        "{example}。"
    ),
    "error.schedules.metrics_numbers": "metrics 必须是用逗号或空格分隔的数字，每个 epoch 或每个 step 一个。",
    "error.schedules.metrics_count": (
        "metrics 有 {count} 个值；请给出 {steps} 个（每个 step 一个）或 {epochs} 个（每个 epoch 一个）有限的数。"
    ),
    "error.schedules.needs_metric": "ReduceLROnPlateau 每次 step 都需要一个指标（比如验证集 loss）。",
    "error.schedules.zero_division": "{call} 计算学习率时除以了零；请选择让学习率保持为有限数的参数。",
    "error.schedules.overflow": "{call} 计算学习率时溢出；请选择让学习率保持为有限数的参数。",
    "error.schedules.torch": "torch 不接受 {call}：{reason}。",
    "error.schedules.not_finite": "{call} 在第 {step} 个 step 把学习率变成了 {value}；请选择让它保持有限的参数。",
    "error.schedules.overlays_full": "对比里最多放 {count} 条曲线；请先移除一条或全部清空。",
    "error.schedules.overlays_empty": "对比里还没有曲线；请先加入一条。",
    "error.schedules.overlay_missing": "曲线 {value} 不在对比里；请从列出的曲线里选。",
    "error.schedules.no_curve": "还没有可加入的曲线；请先选一个 scheduler。",
    # lab.safe_expr: lr_lambda formulas
    "error.expr.not_allowed": "lr_lambda {text} 用到了{what}，这是不允许的；只能用 {allowed}。",
    "expr.allowed": "数字、epoch、+ - * / // % **、比较、x if c else y、min、max、abs、{functions}、pi、e",
    "expr.what.constant": "常量 {value}",
    "expr.what.name": "名字 {name}",
    "expr.what.call": "对 {name} 的调用",
    "expr.what.a_call": "函数调用",
    "expr.what.starred": "关键字参数或带星号的参数",
    "expr.what.attribute": "属性访问",
    "expr.what.indexing": "下标访问",
    "expr.what.lambda": "lambda",
    "expr.what.comprehension": "推导式",
    "expr.what.assignment": "赋值",
    "expr.what.string": "字符串",
    "expr.what.syntax": "{kind} 语法",
    "error.expr.type": "lr_lambda 必须是关于 epoch 的表达式字符串，例如 '0.95 ** epoch'，而不是 {text}。",
    "error.expr.too_long": "lr_lambda 有 {length} 个字符；最多接受 {max} 个。",
    "error.expr.empty": "lr_lambda 是空的；请输入关于 epoch 的表达式，例如 '0.95 ** epoch'。",
    "error.expr.invalid": "lr_lambda {text} 不是合法的表达式（{reason}）。",
    "error.expr.nodes": "lr_lambda {text} 有 {count} 个语法节点；最多接受 {max} 个。",
    "error.expr.too_large": "lr_lambda {text} 里有一个浮点数放不下的数。",
    "error.expr.arity": "lr_lambda {text} 调用 {name}() 时给了 {count} 个参数；它接受 {takes} 个。",
    "expr.takes_range": "{low} 到 {high}",
    "error.expr.eval": "lr_lambda {text} 在第 {epoch} 个 epoch 时{what}。",
    "expr.eval.zero_division": "'{symbol}' 除以了零",
    "expr.eval.overflow": "'{symbol}' 溢出",
    "expr.eval.complex": "'{symbol}' 得到了复数",
    "expr.eval.domain": "给 {name}() 的值超出了定义域（{reason}）",
    "error.expr.not_finite": "lr_lambda {text} 在第 {epoch} 个 epoch 得到 {value}；它必须是有限的数。",
    # lab.safe_expr: JSON fields (every tab's)
    "error.json.type": "字段“{field}”收到的是 {kind}；请写成 JSON 文本，例如 {example}。",
    "error.json.too_long": "字段“{field}”有 {length} 个字符；最多接受 {max} 个。",
    "error.json.depth": "字段“{field}”的括号嵌套了 {depth} 层；最多接受 {max} 层。",
    "error.json.digits": "字段“{field}”里有一个 {digits} 位的数；最多接受 {max} 位。",
    "error.json.invalid": "字段“{field}”不是合法的 JSON（{reason}：第 {position} 个字符）；请写成 {example} 这样。",
    "error.json.invalid_plain": "字段“{field}”不是合法的 JSON；请写成 {example} 这样。",
    "error.json.too_many": "字段“{field}”包含的值超过 {max} 个；最多接受 {max} 个。",
    "error.json.nested": "字段“{field}”的列表或对象嵌套超过 {max} 层；最多接受 {max} 层。",
}
