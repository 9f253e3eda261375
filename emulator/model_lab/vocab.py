"""Static vocabulary for the Model Lab data generator (names, tasks, parameters, metrics)."""

from __future__ import annotations

from dataclasses import dataclass

PROJECT_NAMES: tuple[str, ...] = (
    "churn-prediction",
    "Détection d'anomalies",
    "llm-finetune-support",
    "日本語モデル評価",
    "Ünïcode-bert",
    "fraud-detection-v2",
    "search-ranking",
    "demand-forecasting",
    "image-classification",
    "recommandations-été",
    "speech-to-text",
    "sentiment-analysis",
    "code-assistant-eval",
    "Überprüfung-qualität",
    "credit-scoring",
    "document-ocr",
)

PROJECT_DESCRIPTIONS: tuple[str, ...] = (
    "",
    "Weekly retraining of the production model.",
    "Expériences de détection sur les capteurs de l'usine de Lyon.",
    "日本語の評価データセットでのベンチマーク。",
    "Fine-tuning experiments for the support assistant.",
    "Baseline and ablation studies, see the design doc for context.",
    "Modelos de pronóstico de demanda por región.",
)

PROJECT_TAG_VALUES: dict[str, tuple[str, ...]] = {
    "team": ("ml-platform", "search", "risk", "nlp", "vision", "équipe-données"),
    "env": ("dev", "staging", "prod"),
    "cost_center": ("cc-1001", "cc-2040", "cc-3300"),
}

OWNER_HANDLES: tuple[str, ...] = (
    "alice",
    "bob",
    "chloé",
    "dmitri",
    "eva",
    "farid",
    "giulia",
    "hiroshi",
    "inès",
    "jonas",
    "kenji",
    "lena",
    "mateo",
    "nadia",
    "oscar",
    "priya",
    "quentin",
    "rosa",
    "søren",
    "tanvi",
    "ulrich",
    "valentina",
    "wei",
    "yuki",
)

ADJECTIVES: tuple[str, ...] = (
    "amber",
    "bold",
    "brisk",
    "calm",
    "clever",
    "crimson",
    "eager",
    "fuzzy",
    "gentle",
    "golden",
    "hazy",
    "icy",
    "jolly",
    "keen",
    "lucid",
    "mellow",
    "nimble",
    "quiet",
    "rapid",
    "serene",
    "silent",
    "smooth",
    "sunny",
    "swift",
    "tidy",
    "vivid",
    "wise",
    "zesty",
    "élégant",
    "grün",
    "быстрый",
    "静かな",
)

NOUNS: tuple[str, ...] = (
    "ant",
    "badger",
    "bear",
    "cat",
    "colt",
    "crane",
    "deer",
    "dove",
    "eel",
    "falcon",
    "fox",
    "gnu",
    "hawk",
    "heron",
    "ibis",
    "koala",
    "lark",
    "lynx",
    "mole",
    "newt",
    "otter",
    "owl",
    "panda",
    "quail",
    "raven",
    "seal",
    "sloth",
    "trout",
    "wolf",
    "zebra",
    "café",
    "狐",
)

RUN_DESCRIPTIONS: tuple[str, ...] = (
    "Baseline with default hyper-parameters.",
    "Fine-tune on the cleaned dataset (v3).",
    "Réentraînement après correction des étiquettes.",
    "Ablation: no data augmentation.",
    "Evaluación con el conjunto de validación ampliado.",
    "Mixed precision, gradient checkpointing enabled.",
    "データ拡張ありの再学習",
    "Reproduce the paper results with a longer schedule.",
)

SOURCE_TYPES: tuple[str, ...] = ("LOCAL", "JOB", "NOTEBOOK", "PROJECT")
SOURCE_NAMES: tuple[str, ...] = (
    "train.py",
    "pipelines/finetune.py",
    "notebooks/explore.ipynb",
    "jobs/nightly_retrain.py",
)
STAGES: tuple[str, ...] = ("dev", "staging", "prod")


@dataclass(frozen=True)
class Task:
    """A family of experiments: which params, metrics and datasets its runs use."""

    name: str
    params: tuple[tuple[str, tuple[str, ...]], ...]
    metrics: tuple[str, ...]
    sweep_keys: tuple[str, ...]
    datasets: tuple[str, ...]
    model_dir: str


TASKS: tuple[Task, ...] = (
    Task(
        name="classification",
        params=(
            (
                "model_name",
                ("resnet50", "efficientnet_b3", "vit_base_patch16_224", "convnext_tiny"),
            ),
            ("optimizer", ("adam", "adamw", "sgd")),
            ("epochs", ("10", "20", "30", "50", "100")),
            ("learning_rate", ("1e-05", "3e-05", "0.0001", "0.0003", "0.001", "0.003")),
            ("batch_size", ("16", "32", "64", "128", "256")),
            ("dropout", ("0.0", "0.1", "0.2", "0.3", "0.5")),
            ("weight_decay", ("0.0", "0.0001", "0.001", "0.01")),
            ("augmentation", ("True", "False")),
            ("seed", ("0", "1", "42", "1234")),
        ),
        metrics=(
            "loss",
            "val_loss",
            "accuracy",
            "val_accuracy",
            "f1",
            "precision",
            "recall",
            "latency_ms",
        ),
        sweep_keys=("learning_rate", "batch_size", "dropout", "weight_decay"),
        datasets=("imagenet-1k", "cifar-100", "défauts-usine-v3", "medical-xray-2025"),
        model_dir="model",
    ),
    Task(
        name="llm_finetune",
        params=(
            ("base_model", ("llama-3-8b", "mistral-7b", "qwen2-7b", "gemma-2b")),
            ("lora_r", ("8", "16", "32", "64")),
            ("lora_alpha", ("16", "32", "64")),
            ("learning_rate", ("1e-05", "2e-05", "5e-05", "0.0001", "0.0002")),
            ("batch_size", ("4", "8", "16", "32")),
            ("max_seq_length", ("1024", "2048", "4096")),
            ("gradient_accumulation_steps", ("1", "2", "4", "8")),
            ("use_bf16", ("true",)),
            ("warmup_ratio", ("0.0", "0.03", "0.1")),
            ("dropout", ("0.0", "0.05", "0.1")),
            ("weight_decay", ("0.0", "0.01", "0.1")),
        ),
        metrics=(
            "loss",
            "val_loss",
            "perplexity",
            "tokens_per_second",
            "learning_rate",
            "total_flos",
        ),
        sweep_keys=("learning_rate", "batch_size", "dropout", "weight_decay"),
        datasets=(
            "support-tickets-2025",
            "wikitext-103",
            "日本語-instruct-v2",
            "code-review-pairs",
        ),
        model_dir="lora_model",
    ),
    Task(
        name="regression",
        params=(
            ("model", ("xgboost", "lightgbm", "ridge", "mlp")),
            ("n_estimators", ("100", "300", "500", "1000")),
            ("max_depth", ("3", "5", "7", "9")),
            ("learning_rate", ("0.01", "0.03", "0.05", "0.1", "0.3")),
            ("subsample", ("0.6", "0.8", "1.0")),
            ("objective", ("reg:squarederror", "reg:pseudohubererror")),
            ("batch_size", ("256", "512", "1024")),
            ("weight_decay", ("0.0", "0.001", "0.01")),
        ),
        metrics=("rmse", "val_rmse", "mae", "r2", "latency_ms"),
        sweep_keys=("learning_rate", "max_depth", "subsample", "batch_size"),
        datasets=("sales-daily", "prévisions-énergie", "housing-2026"),
        model_dir="model",
    ),
    Task(
        name="ranking",
        params=(
            ("encoder", ("bert-base", "e5-large", "minilm-l6")),
            ("negatives", ("random", "hard", "in-batch")),
            ("learning_rate", ("1e-05", "2e-05", "5e-05")),
            ("batch_size", ("32", "64", "128")),
            ("temperature", ("0.01", "0.05", "0.1")),
            ("dropout", ("0.0", "0.1")),
        ),
        metrics=("loss", "val_loss", "ndcg_at_10", "mrr", "map", "latency_ms"),
        sweep_keys=("learning_rate", "batch_size", "temperature", "dropout"),
        datasets=("msmarco", "clicks-2026-q1", "requêtes-internes"),
        model_dir="model",
    ),
)

# Metric shapes: (kind, start range, end range). "down" / "up" metrics move from start to end;
# "flat" ones hover around start; "once" metrics are logged a single time.
METRIC_SHAPES: dict[str, tuple[str, tuple[float, float], tuple[float, float]]] = {
    "loss": ("down", (1.5, 4.0), (0.05, 0.6)),
    "val_loss": ("down", (1.5, 4.0), (0.1, 0.9)),
    "accuracy": ("up", (0.05, 0.4), (0.6, 0.99)),
    "val_accuracy": ("up", (0.05, 0.4), (0.55, 0.97)),
    "f1": ("up", (0.05, 0.35), (0.5, 0.95)),
    "precision": ("up", (0.1, 0.4), (0.55, 0.98)),
    "recall": ("up", (0.1, 0.4), (0.5, 0.97)),
    "latency_ms": ("flat", (5.0, 120.0), (0.0, 0.0)),
    "perplexity": ("down", (20.0, 80.0), (2.0, 12.0)),
    "tokens_per_second": ("flat", (800.0, 4000.0), (0.0, 0.0)),
    "learning_rate": ("down", (1e-5, 2e-4), (0.0, 1e-6)),
    "total_flos": ("once", (1e14, 1e17), (0.0, 0.0)),
    "rmse": ("down", (5.0, 40.0), (0.5, 5.0)),
    "val_rmse": ("down", (5.0, 40.0), (0.8, 6.0)),
    "mae": ("down", (3.0, 30.0), (0.3, 4.0)),
    "r2": ("up", (-0.5, 0.3), (0.6, 0.95)),
    "ndcg_at_10": ("up", (0.1, 0.3), (0.4, 0.8)),
    "mrr": ("up", (0.1, 0.3), (0.35, 0.75)),
    "map": ("up", (0.05, 0.25), (0.3, 0.7)),
}
