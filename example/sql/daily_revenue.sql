-- Revenue per region for one day, from the raw orders of that day.
SELECT region,
       count(*) AS orders,
       round(sum(amount), 2) AS revenue
FROM raw.orders
WHERE dt = '{{ ds }}'
GROUP BY region
