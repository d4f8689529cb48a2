"""The file to hand to ``spark-submit``: the medclaim command line, run as a Spark application.

    spark-submit --master yarn [...] "$(python -c 'import medclaim.spark.submit as m; print(m.__file__)')" \\
        settle extracts/2024-03/*.csv --rules shandong/critical-illness-2014 --ledger /shared/medclaim/ledger --engine spark

(``spark-submit`` runs Python applications given as a ``.py`` file, not console scripts.)
"""

from medclaim.cli import run

if __name__ == "__main__":
    run()
