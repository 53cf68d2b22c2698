// Replays gsub calls in java.util.regex, as Elasticsearch's gsub processor runs them
// (Pattern.compile(pattern).matcher(value).replaceAll(replacement)).
// Input lines: base64(pattern) TAB base64(replacement) TAB base64(subject); output: base64(result),
// or "!" and the exception's class when the pattern does not compile or the replacement is invalid.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Pattern;

public class GsubReplay {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        Base64.Decoder dec = Base64.getDecoder();
        Base64.Encoder enc = Base64.getEncoder();
        Map<String, Pattern> compiled = new HashMap<>();
        StringBuilder out = new StringBuilder();
        String line;
        while ((line = in.readLine()) != null) {
            String[] parts = line.split("\t", -1);
            String pattern = new String(dec.decode(parts[0]), StandardCharsets.UTF_8);
            String replacement = new String(dec.decode(parts[1]), StandardCharsets.UTF_8);
            String subject = new String(dec.decode(parts[2]), StandardCharsets.UTF_8);
            try {
                Pattern p = compiled.computeIfAbsent(pattern, Pattern::compile);
                String result = p.matcher(subject).replaceAll(replacement);
                out.append(enc.encodeToString(result.getBytes(StandardCharsets.UTF_8))).append('\n');
            } catch (RuntimeException e) {
                out.append('!').append(e.getClass().getSimpleName()).append('\n');
            }
        }
        System.out.print(out);
    }
}
