import java.io.BufferedReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.core.KeywordAnalyzer;
import org.apache.lucene.document.DoublePoint;
import org.apache.lucene.index.memory.MemoryIndex;
import org.apache.lucene.queryparser.classic.ParseException;
import org.apache.lucene.queryparser.classic.QueryParser;
import org.apache.lucene.search.BooleanClause;
import org.apache.lucene.search.BooleanQuery;
import org.apache.lucene.search.MatchAllDocsQuery;
import org.apache.lucene.search.Query;

/**
 * kamal-siem's Lucene harness: which documents each query matches, as Elasticsearch's query_string
 * would on keyword fields. Usage: java LuceneMatch docs.ndjson queries.ndjson
 * docs: {"_id": "...", "<field>": "value" | ["v1", "v2"], ...}; queries: {"id": "...", "query": "..."}.
 * Prints "<query id>\t<doc id>" per match, or "<query id>\tPARSE_ERROR\t<message>".
 * Like query_string: keyword analysis (one term per value, case-sensitive), leading wildcards
 * allowed, `_exists_:f` an exists query, and a group of only NOT clauses also matches everything else.
 * A numeric field is indexed as a number: `f:500` is an exact point query, `f:[1 TO 5]` a range, and
 * query_string's one-sided ranges `f:>0`, `f:>=500`, `f:<5`, `f:<=5` (Elasticsearch's
 * QueryStringQueryParser reads them in getFieldQuery) are ranges.
 */
public class LuceneMatch {
  static Set<String> numeric = new HashSet<>();

  static class QueryStringParser extends QueryParser {
    QueryStringParser(Analyzer analyzer) { super("message", analyzer); }

    @Override
    protected Query getFieldQuery(String field, String text, boolean quoted) throws ParseException {
      if (quoted || !numeric.contains(field)) return super.getFieldQuery(field, text, quoted);
      try {
        if (text.startsWith(">=")) return DoublePoint.newRangeQuery(field, Double.parseDouble(text.substring(2)), Double.POSITIVE_INFINITY);
        if (text.startsWith(">")) return DoublePoint.newRangeQuery(field, Math.nextUp(Double.parseDouble(text.substring(1))), Double.POSITIVE_INFINITY);
        if (text.startsWith("<=")) return DoublePoint.newRangeQuery(field, Double.NEGATIVE_INFINITY, Double.parseDouble(text.substring(2)));
        if (text.startsWith("<")) return DoublePoint.newRangeQuery(field, Double.NEGATIVE_INFINITY, Math.nextDown(Double.parseDouble(text.substring(1))));
        return DoublePoint.newExactQuery(field, Double.parseDouble(text));
      } catch (NumberFormatException e) {
        throw new ParseException("not a number for the numeric field " + field + ": " + text);
      }
    }

    @Override
    protected Query getRangeQuery(String field, String lower, String upper, boolean startInclusive, boolean endInclusive) throws ParseException {
      if (!numeric.contains(field)) return super.getRangeQuery(field, lower, upper, startInclusive, endInclusive);
      double lo = lower == null || lower.equals("*") ? Double.NEGATIVE_INFINITY : Double.parseDouble(lower);
      double hi = upper == null || upper.equals("*") ? Double.POSITIVE_INFINITY : Double.parseDouble(upper);
      return DoublePoint.newRangeQuery(field, startInclusive ? lo : Math.nextUp(lo), endInclusive ? hi : Math.nextDown(hi));
    }
  }

  static void add(MemoryIndex index, String field, Object value, Analyzer analyzer) {
    if (numeric.contains(field)) index.addField(new DoublePoint(field, Double.parseDouble(String.valueOf(value))), analyzer);
    else index.addField(field, String.valueOf(value), analyzer);
  }

  static Query withMatchAll(Query q) {
    if (!(q instanceof BooleanQuery)) return q;
    BooleanQuery bq = (BooleanQuery) q;
    BooleanQuery.Builder b = new BooleanQuery.Builder().setMinimumNumberShouldMatch(bq.getMinimumNumberShouldMatch());
    boolean onlyNot = true;
    for (BooleanClause c : bq) {
      b.add(withMatchAll(c.getQuery()), c.getOccur());
      onlyNot &= c.getOccur() == BooleanClause.Occur.MUST_NOT;
    }
    if (onlyNot) b.add(new MatchAllDocsQuery(), BooleanClause.Occur.FILTER);
    return b.build();
  }

  public static void main(String[] args) throws Exception {
    KeywordAnalyzer analyzer = new KeywordAnalyzer();
    ObjectMapper json = new ObjectMapper();
    if (args.length > 2) {
      for (Object name : json.readValue(Files.readString(Paths.get(args[2])), List.class)) numeric.add(String.valueOf(name));
    }
    List<String> ids = new ArrayList<>();
    List<MemoryIndex> indexes = new ArrayList<>();
    try (BufferedReader in = Files.newBufferedReader(Paths.get(args[0]), StandardCharsets.UTF_8)) {
      for (String line; (line = in.readLine()) != null; ) {
        if (line.isBlank()) continue;
        @SuppressWarnings("unchecked")
        Map<String, Object> doc = json.readValue(line, Map.class);
        MemoryIndex index = new MemoryIndex();
        for (Map.Entry<String, Object> f : doc.entrySet()) {
          if (f.getKey().equals("_id") || f.getValue() == null) continue;
          if (f.getValue() instanceof List) {
            for (Object v : (List<?>) f.getValue()) add(index, f.getKey(), v, analyzer);
          } else {
            add(index, f.getKey(), f.getValue(), analyzer);
          }
        }
        ids.add(String.valueOf(doc.get("_id")));
        indexes.add(index);
      }
    }
    try (BufferedReader in = Files.newBufferedReader(Paths.get(args[1]), StandardCharsets.UTF_8)) {
      for (String line; (line = in.readLine()) != null; ) {
        if (line.isBlank()) continue;
        @SuppressWarnings("unchecked")
        Map<String, Object> spec = json.readValue(line, Map.class);
        String id = String.valueOf(spec.get("id"));
        QueryParser parser = new QueryStringParser(analyzer);
        parser.setAllowLeadingWildcard(true);
        parser.setDefaultOperator(QueryParser.Operator.OR);
        Query query;
        try {
          String text = String.valueOf(spec.get("query")).replaceAll("_exists_:([A-Za-z0-9_.@]+)", "$1:*");
          query = withMatchAll(parser.parse(text));
        } catch (ParseException e) {
          System.out.println(id + "\tPARSE_ERROR\t" + e.getMessage().split("\n")[0]);
          continue;
        }
        for (int i = 0; i < indexes.size(); i++) {
          if (indexes.get(i).createSearcher().count(query) > 0) System.out.println(id + "\t" + ids.get(i));
        }
      }
    }
  }
}
