# NEAT Studio: the Gradio app on port 7860, data (database, uploads, runs) in the /data volume.
#
#   docker build -t neat-studio .
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cpu -t neat-studio:cpu .
#   docker run -p 7860:7860 -v neat-data:/data neat-studio
#
# Without TORCH_INDEX, torch comes from PyPI (CUDA-enabled Linux wheel, several GB); with the CPU
# index above the image stays small and trains on CPU only.
FROM python:3.11-slim

ARG TORCH_INDEX=""

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GRADIO_ANALYTICS_ENABLED=False

# libgomp1: OpenMP runtime used by torch and scikit-learn wheels on CPU.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/neat-studio

# Dependencies first, so that code changes do not reinstall them.
COPY requirements.txt requirements-assets.txt ./
COPY scripts/install.sh scripts/install.sh
RUN if [ -n "$TORCH_INDEX" ]; then export PIP_EXTRA_INDEX_URL="$TORCH_INDEX"; fi \
    && bash scripts/install.sh

COPY . .

RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin neat \
    && mkdir -p /data \
    && chown neat:neat /data

ENV NEAT_HOME=/data \
    HF_HOME=/data/hf-cache
VOLUME /data
USER neat

EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)"

CMD ["python", "-m", "app", "--host", "0.0.0.0", "--port", "7860"]
